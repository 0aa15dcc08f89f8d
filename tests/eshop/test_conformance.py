"""The e-Sklep target passes the conformance suite every shop target must pass, against the storefront."""

import pytest
from tradecredit.testing import TargetConformance


class TestEshopConformance(TargetConformance):
    matches_every_code = True  # the feed creates the storefront's customer on first write

    @pytest.fixture
    def records(self, make_record):
        return [make_record(f"K{i:03d}", used=f"{i}.25") for i in range(1, 6)]
