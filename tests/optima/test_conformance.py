"""The Optima source passes the conformance suite every ERP source must pass."""

import pytest
from tradecredit.plugins.optima import make_demo_db
from tradecredit.testing import SourceConformance


class TestOptimaConformance(SourceConformance):
    @pytest.fixture
    def source(self, tc_database_url, optima_source):
        make_demo_db(tc_database_url, 300)
        return optima_source(tc_database_url)
