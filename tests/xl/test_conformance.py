"""The XL source passes the conformance suite every ERP source must pass."""

import pytest
from tradecredit.plugins.xl.demo import generate, write
from tradecredit.testing import SourceConformance

from . import helpers as xlh


class TestXlConformance(SourceConformance):
    @pytest.fixture
    def source(self, tc_database_url, xl_source):
        write(tc_database_url, generate(300, seed=9, today=xlh.TODAY))
        return xl_source(tc_database_url, include_reservations=True, include_documents_without_payments=True)
