"""The XL source passes the conformance suite every ERP source must pass."""

import pytest
from tradecredit.core.conformance import SourceConformance
from tradecredit.plugins.xl.demo import generate, write


class TestXlConformance(SourceConformance):
    @pytest.fixture
    def source(self, database_url, xl_source, xlh):
        write(database_url, generate(300, seed=9, today=xlh.TODAY))
        return xl_source(database_url, include_reservations=True, include_documents_without_payments=True)
