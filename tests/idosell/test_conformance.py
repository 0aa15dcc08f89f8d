"""The IdoSell target passes the conformance suite every shop target must pass, against the sandbox."""

import pytest
from tradecredit.testing import TargetConformance

from . import helpers as h


class TestIdoSellConformance(TargetConformance):
    @pytest.fixture
    def target(self, sandbox):
        target = h.make_target(sandbox)
        yield target
        target.close()

    @pytest.fixture
    def records(self, sandbox):
        codes = h.seed(sandbox, 5)
        return [h.record(c, limit=f"{1000 * (i + 1)}.00", used=f"{i}.50") for i, c in enumerate(codes)]
