"""The Optima source passes the conformance suite every ERP source must pass."""

import pytest
from tradecredit.core.conformance import SourceConformance
from tradecredit.plugins.optima import make_demo_db


class TestOptimaConformance(SourceConformance):
    @pytest.fixture
    def source(self, database_url, optima_source):
        make_demo_db(database_url, 300)
        return optima_source(database_url)
