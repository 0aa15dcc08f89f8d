"""The generated demo database read end to end, compared with an independent Python model; statement counts,
read-only guard and determinism."""

from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text
from tradecredit import CreditRecord, DataError, LimitState, RejectedRow
from tradecredit.core.sql import create_source_engine, install_read_only_guard
from tradecredit.plugins.xl.demo import generate, write

from . import helpers as xlh


@pytest.mark.parametrize(("reservations", "documents"), [(False, False), (True, True)])
def test_demo_db_matches_independent_model(tc_database_url, xl_source, reservations, documents):
    data = generate(1600, seed=11, today=xlh.TODAY)
    write(tc_database_url, data)
    src = xl_source(tc_database_url, include_reservations=reservations, include_documents_without_payments=documents)
    items = list(src.read(xlh.AS_OF))
    expected = xlh.expected_from_demo(data, reservations=reservations, documents=documents)
    assert {i.code for i in items} == set(expected)
    states = {s: 0 for s in LimitState}
    for item in items:
        want = expected[item.code]
        if isinstance(want, str):
            assert isinstance(item, RejectedRow), (item.code, want)
            continue
        assert isinstance(item, CreditRecord), (item.code, getattr(item, "reason", ""))
        got = {k: getattr(item, k) for k in want}
        got["limit_state"] = item.limit_state.value
        assert got == want, item.code
        states[item.limit_state] += 1
    # every limit state XL has occurs in the demo data; XL has no "no limit granted": a limited card without a
    # valid dated limit is lapsed
    assert states.pop(LimitState.NONE) == 0 and all(states.values()), states
    assert sum(isinstance(i, RejectedRow) for i in items) >= 2  # dangling payers and a limit without a rate


def test_statement_count_is_independent_of_customer_count(tc_sqlite_url, tmp_path, xl_source):
    counts = []
    for n, url in ((20, tc_sqlite_url), (900, f"sqlite:///{tmp_path / 'big.db'}")):
        write(url, generate(n, seed=2, today=xlh.TODAY))
        src = xl_source(url, control_mode=None, branch_id=2, include_reservations=True,
                        include_documents_without_payments=True)
        assert len(list(src.read(xlh.AS_OF))) > 0
        statements = [s for s in src.statements if not s.lstrip().upper().startswith("PRAGMA")]
        assert all(s.lstrip().upper().startswith(("SELECT", "WITH")) for s in statements)
        counts.append(len(statements))
    assert counts == [2, 2]  # the branch's mode + the one credit query


def test_read_only_guard_refuses_writes(tc_sqlite_url):
    write(tc_sqlite_url, generate(5, seed=1, today=xlh.TODAY))
    engine = create_source_engine(tc_sqlite_url)
    install_read_only_guard(engine)
    with engine.connect() as conn, pytest.raises(DataError, match="non-SELECT"):
        conn.execute(text('DELETE FROM "KntKarty"'))
    engine.dispose()


def test_results_stream(tc_sqlite_url, xl_source):
    """read() is a generator: the first record arrives before the rest are built."""
    write(tc_sqlite_url, generate(300, seed=4, today=xlh.TODAY))
    it = xl_source(tc_sqlite_url).read(xlh.AS_OF)
    first = next(it)
    assert first.code == "K000001"
    it.close()


def test_generator_is_deterministic():
    a = generate(300, seed=5, today=xlh.TODAY)
    b = generate(300, seed=5, today=xlh.TODAY)
    c = generate(300, seed=6, today=xlh.TODAY)
    assert a.rows == b.rows and a.rows != c.rows
    assert a.counts()["KntKarty"] == 300


def test_demo_writer_refuses_a_non_empty_database(tc_sqlite_url):
    from tradecredit import ConfigError

    write(tc_sqlite_url, generate(3, seed=1, today=xlh.TODAY))
    with pytest.raises(ConfigError, match="already holds"):
        write(tc_sqlite_url, generate(3, seed=1, today=xlh.TODAY))


def test_demo_amounts_are_exact_on_sqlite(tc_sqlite_url):
    """The generator stores Decimals; reading them back through SQLAlchemy yields the same Decimals."""
    data = generate(50, seed=9, today=xlh.TODAY)
    write(tc_sqlite_url, data)
    engine = create_engine(tc_sqlite_url)
    from tradecredit.plugins.comarch import schema_map
    from tradecredit.plugins.xl.schema import TraPlat

    with engine.connect() as conn:
        conn = conn.execution_options(schema_translate_map=schema_map(engine))
        stored = [r.TrP_Pozostaje for r in conn.execute(TraPlat.select().order_by(TraPlat.c.TrP_GIDNumer,
                                                                                 TraPlat.c.TrP_GIDLp))]
    engine.dispose()
    assert stored == [r[11] for r in sorted(data.table(TraPlat), key=lambda r: (r[1], r[2]))]
    assert all(type(v) is Decimal for v in stored)
