"""Bad inputs (issue 12): broken configs give one message naming every problem by its path (exit 3, no
traceback); bad ERP rows — non-UTF-8 text, amounts beyond decimal(15,2), over-long codes — are rejected with
their reasons while every good customer syncs; the IdoSell answer parser and the config loader are fuzzed.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from tradecredit import run_pipeline
from tradecredit.core.config import load_config, parse_config
from tradecredit.core.errors import ConfigError, TransientError
from tradecredit.core.plugins import PluginHost, get_host
from tradecredit.plugins import idosell, optima
from tradecredit.plugins.comarch import create_erp_tables, schema_map
from tradecredit.plugins.idosell.sandbox import start_sandbox
from tradecredit.plugins.idosell.target import IdoSellOptions, IdoSellTarget
from tradecredit.plugins.optima.schema import build_metadata
from tradecredit.sdk import AdapterContext, CreditRecord, ItemStatus, LimitState, ModeMapping, OutgoingItem
from tradecredit.sdk import ControlMode as Mode

AS_OF = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
KEY = "bad-inputs-key-7781"

# --- broken configs ----------------------------------------------------------------------------------------

GOOD_TARGET = 'plugin = "idosell"\nbase_url = "https://shop.example"\napi_key = "k-123456"\n'
CORPUS: dict[str, tuple[str, list[str]]] = {
    # name: (the file, the dotted paths the one message must name)
    "strings for bool and int": (
        '[sources.erp]\nplugin = "optima"\nurl = "sqlite:///erp.db"\n[targets.shop]\n' + GOOD_TARGET +
        'batch_size = "100"\n'
        'verify = "yes"\n[[pipelines]]\nname = "p"\nsource = "erp"\ntarget = "shop"\nenabled = "yes"\n',
        ["targets.shop.batch_size", "targets.shop.verify", "pipelines[0].enabled"]),
    "http base_url": (
        '[targets.shop]\nplugin = "idosell"\nbase_url = "http://shop.example"\napi_key = "k-123456"\n',
        ["targets.shop"]),
    "base_url with a path": (
        '[targets.shop]\nplugin = "idosell"\nbase_url = "https://shop.example/api/admin/v6"\napi_key = "k-12345"\n',
        ["targets.shop.base_url"]),
    "base_url with a query": (
        '[targets.shop]\nplugin = "idosell"\nbase_url = "https://shop.example?x=1"\napi_key = "k-12345"\n',
        ["targets.shop.base_url"]),
    "base_url with a fragment": (
        '[targets.shop]\nplugin = "idosell"\nbase_url = "https://shop.example#x"\napi_key = "k-12345"\n',
        ["targets.shop.base_url"]),
    "empty api_key": (
        '[targets.shop]\nplugin = "idosell"\nbase_url = "https://shop.example"\napi_key = ""\n',
        ["targets.shop.api_key"]),
    "empty secret variable": (
        '[targets.shop]\nplugin = "idosell"\nbase_url = "https://shop.example"\napi_key = { env = "TC_EMPTY" }\n',
        ["targets.shop.api_key"]),
    "missing secret file": (
        '[targets.shop]\nplugin = "idosell"\nbase_url = "https://shop.example"\napi_key = { file = "nope.txt" }\n',
        ["targets.shop.api_key"]),
    "retry as strings": (
        '[targets.shop]\n' + GOOD_TARGET + '[targets.shop.retry]\nmax_attempts = "3"\ntotal_timeout = "9"\n',
        ["targets.shop.retry.max_attempts", "targets.shop.retry.total_timeout"]),
    "many at once": (
        '[state]\nkeep_runs = "5"\n[sources.erp]\nplugin = "optima"\nurl = "sqlite:///erp.db"\n'
        '[targets.shop]\nplugin = "idosell"\n'
        'base_url = "ftp://x"\napi_key = ""\ntimeout = "3"\n[[pipelines]]\nname = "a b"\nsource = "erp"\n'
        'target = "nope"\n',
        ["state.keep_runs", "targets.shop.base_url", "targets.shop.api_key", "targets.shop.timeout",
         "pipelines[0].name", "pipelines[0].target"]),
    "not TOML": ('[targets.shop\nplugin = "idosell"\n', ["not valid TOML"]),
    "unknown option": ('[targets.shop]\n' + GOOD_TARGET + 'bach_size = 5\n', ["targets.shop.bach_size"]),
    "lock_timeout renamed": ('[state]\nlock_timeout = "6h"\n', ["state"]),
    # one wrong value of a union-typed option is one problem at its own path (not workstation.int + .str)
    "union value": ('[sources.erp]\nplugin = "optima"\nurl = "sqlite:///erp.db"\nworkstation = [1]\n',
                    ["sources.erp.workstation: Input should be a valid integer or a valid string"]),
}


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "tradecredit.core.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=60, env={**os.environ, "TC_EMPTY": "", **(env or {})})


def test_every_broken_config_is_one_message_naming_every_problem(tmp_path, monkeypatch):
    # in-process through the real CLI entry (click's runner): the same exit codes and output, no process start
    from click.testing import CliRunner
    from tradecredit.core.cli import cli as main

    monkeypatch.setenv("TC_EMPTY", "")
    for name, (body, paths) in CORPUS.items():
        folder = tmp_path / name.replace(" ", "-")
        folder.mkdir()
        (folder / "tradecredit.toml").write_text(body, encoding="utf-8")
        monkeypatch.chdir(folder)
        result = CliRunner().invoke(main, ["check", "-c", "tradecredit.toml"])
        shown = result.output
        assert result.exit_code == 3, f"{name}: exit {result.exit_code} {result.exception!r}\n{shown}"
        assert isinstance(result.exception, SystemExit), f"{name}: {result.exception!r}"
        assert "Traceback" not in shown, f"{name}:\n{shown}"
        for path in paths:
            assert path in shown, f"{name}: {path!r} not named in\n{shown}"
        lines = [ln.strip() for ln in shown.splitlines() if ln.strip().startswith("- ")]
        assert len(lines) == len(set(lines)), f"{name}: a problem reported twice\n{shown}"
        paths_shown = [ln.split(":")[0] for ln in lines]
        assert len(paths_shown) == len(set(paths_shown)), f"{name}: one path named twice\n{shown}"


def test_a_non_utf8_config_file_is_a_config_error_naming_the_file(tmp_path):
    (tmp_path / "tradecredit.toml").write_bytes('[state]\nurl = "sqlite:///zażółć.db"\n'.encode("cp1250"))
    out = cli("check", "-c", "tradecredit.toml", cwd=tmp_path)
    assert out.returncode == 3, out.stderr
    assert "tradecredit.toml" in out.stderr and "UTF-8" in out.stderr and "Traceback" not in out.stderr


def test_a_secret_file_is_relative_to_the_config_file_not_the_working_directory(tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "key.txt").write_text("secret-from-file-991\n", encoding="utf-8")
    (conf / "tradecredit.toml").write_text(
        '[targets.shop]\nplugin = "idosell"\nbase_url = "https://shop.example"\napi_key = { file = "key.txt" }\n',
        encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    import os

    cwd = os.getcwd()
    os.chdir(elsewhere)
    try:
        config = load_config(conf / "tradecredit.toml", get_host())
    finally:
        os.chdir(cwd)
    assert config.targets["shop"].options.api_key.get_secret_value() == "secret-from-file-991"


def test_http_base_url_needs_the_explicit_opt_in_and_then_warns_every_run(caplog):
    host = get_host()
    with pytest.raises(ConfigError, match="clear text"):
        parse_config({"targets": {"shop": {"plugin": "idosell", "base_url": "http://shop.example",
                                           "api_key": "k-123456"}}}, host)
    config = parse_config({"targets": {"shop": {"plugin": "idosell", "base_url": "http://shop.example",
                                                "api_key": "k-123456", "allow_insecure_http": True}}}, host)
    opts = config.targets["shop"].options
    for _ in range(2):
        with caplog.at_level("WARNING"):
            caplog.clear()
            target = IdoSellTarget(opts, AdapterContext(instance_name="shop"))
            _ = target.http
            target.close()
        assert any("clear text" in r.getMessage() for r in caplog.records)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["state", "url", "sources", "targets", "pipelines", "plugin", "name", "source", "target",
                         "enabled", "batch_size", "base_url", "api_key", "retry", "env", "file", "x"]),
        inner, max_size=5),
    max_leaves=20))
def test_fuzzed_configs_are_accepted_or_a_config_error(data):
    host = get_host()
    if not isinstance(data, dict):
        data = {"targets": data}
    try:
        parse_config(data, host)
    except ConfigError as exc:
        assert exc.problems or str(exc)
        assert len(exc.problems) == len(set(exc.problems))


# --- the IdoSell answer parser, fuzzed ---------------------------------------------------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=6) | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["results", "resultsNumberPage", "clientsResult", "requestReference", "resultStatus",
                         "errors", "faultCode", "faultString", "clientId", "clientLogin", "clientCodeExternal", "K1"]),
        inner, max_size=5),
    max_leaves=25)


def _target(transport: httpx.MockTransport) -> IdoSellTarget:
    opts = IdoSellOptions.model_validate({"base_url": "https://shop.example", "api_key": KEY,
                                          "retry": {"max_attempts": 1, "total_timeout": 2.0}})
    return IdoSellTarget(opts, AdapterContext(instance_name="shop", extras={"transport": transport}))


def _items(codes: list[str]) -> list[OutgoingItem]:
    out = []
    for c in codes:
        record = CreditRecord(source="erp", erp_id=c, code=c, is_business=True, limit_state=LimitState.LIMITED,
                              credit_limit=Decimal("10.00"), as_of=AS_OF)
        out.append(OutgoingItem(key=c.lower(), code=c, record=record, match={"clientLogin": f"l-{c}"},
                                payload={"clientLogin": f"l-{c}", "clientTradeCreditLimitExternal": "10.00",
                                         "clientBalanceAmountExternal": "0.00"},
                                mode=ModeMapping(requested=Mode.BLOCK, effective=Mode.BLOCK)))
    return out


@settings(max_examples=120, deadline=None)
@given(body=JSONISH, status=st.sampled_from([200, 207]))
def test_fuzzed_answers_never_raise_and_never_confirm_a_customer_they_do_not_name(body, status):
    import json

    raw = json.dumps(body).encode()
    target = _target(httpx.MockTransport(lambda request: httpx.Response(status, content=raw)))
    items = _items(["K1", "K2"])
    results = target.write(items)  # must not raise: every answer is a result per item
    named = raw.decode()
    for r in results:
        if r.status is ItemStatus.CONFIRMED:
            assert '"K1"' in named or '"l-K1"' in named or '"K2"' in named or '"l-K2"' in named
    with contextlib.suppress(TransientError):  # a typed, per-call failure is allowed; anything else is not
        target.match(["K1", "K2"])


# --- bad ERP rows: SQLite and PostgreSQL --------------------------------------------------------------------

WORKSTATION = {"ESS_ESSId": 1, "ESS_Nazwa": "Sklep", "ESS_Nieaktywny": 0, "ESS_KontrolaLimituPlat": 1}


def _card(kid: int, code: str, limit: str = "1000.00", **values: Any) -> dict[str, Any]:
    row = {"Knt_KntId": kid, "Knt_PodmiotTyp": 1, "Knt_Kod": code, "Knt_Nazwa1": f"Firma {kid}", "Knt_Nazwa2": "",
           "Knt_NipKraj": "PL", "Knt_Nip": f"52{kid:08d}", "Knt_LimitFlag": 1, "Knt_LimitKredytu": Decimal(limit),
           "Knt_LimitPrzeterKredytFlag": 0, "Knt_LimitPrzeterKredytWartosc": Decimal("0.00"),
           "Knt_LimitKredytuWal": "", "Knt_LimitKredytuWykorzystany": Decimal("0.00"), "Knt_Finalny": 0,
           "Knt_Nieaktywny": 0, "Knt_TS_Mod": datetime(2026, 1, 1)}
    row.update(values)
    return row


def _erp(url: str, cards: list[dict[str, Any]]) -> None:
    tables = build_metadata(loose=True)
    engine = create_engine(url)
    create_erp_tables(engine, tables.metadata)
    with engine.begin() as conn:
        conn = conn.execution_options(schema_translate_map=schema_map(engine))
        conn.execute(tables.kontrahenci.insert(), cards)
        conn.execute(tables.stanowiska.insert(), [WORKSTATION])
    engine.dispose()


GOOD = 12


@pytest.mark.parametrize("erp", ["sqlite", "postgresql"])
def test_bad_erp_rows_are_rejected_with_reasons_and_every_good_customer_syncs(erp, tmp_path, request):
    erp_url = f"sqlite:///{tmp_path / 'erp.db'}" if erp == "sqlite" else request.getfixturevalue("tc_postgres_url")
    cards = [_card(i, f"KH-{i:03d}", limit=f"{100 + i}.00") for i in range(1, GOOD + 1)]
    cards += [_card(101, "HUGE-LIMIT", limit="12345678901234.56"),
              _card(102, "HUGE-USED", Knt_LimitKredytuWykorzystany=Decimal("99999999999999.99"))]
    long_code = "L" * (250 if erp == "sqlite" else 40)
    if erp == "sqlite":  # SQLite keeps what it is given; a PostgreSQL UTF8 database refuses such bytes itself
        cards += [_card(103, long_code), _card(104, "BAD-UTF8")]
    _erp(erp_url, cards)
    if erp == "sqlite":
        engine = create_engine(erp_url)
        with engine.begin() as conn:
            conn.execute(text("UPDATE \"Kontrahenci\" SET Knt_Kod = CAST(x'4b48ff2d3939' AS TEXT) "
                              "WHERE Knt_KntId = 104"))
            conn.execute(text("UPDATE \"Kontrahenci\" SET Knt_Nazwa1 = CAST(x'46697a6d61209c' AS TEXT) "
                              "WHERE Knt_KntId = 1"))  # cp1250 'ś' in the name of a good card
        engine.dispose()
    sb = start_sandbox(tmp_path / "shop.db", KEY)
    try:
        sb.add_clients({"login": f"l-{c['Knt_Kod']}", "code_external": c["Knt_Kod"]} for c in cards[:GOOD])
        host = PluginHost(strict=True)
        host.add_plugin(optima, name="optima")
        host.add_plugin(idosell, name="idosell")
        state = request.getfixturevalue("tc_postgres_url") if erp == "sqlite" else f"sqlite:///{tmp_path / 's.db'}"
        config = parse_config({
            "state": {"url": state},
            "sources": {"erp": {"plugin": "optima", "url": erp_url, "workstation": 1}},
            "targets": {"shop": {"plugin": "idosell", "base_url": sb.url, "api_key": KEY}},
            "pipelines": [{"name": "sync", "source": "erp", "target": "shop"}],
        }, host)
        report = run_pipeline(config, "sync", host=host, as_of=AS_OF)
        written = {c.login: c.limit for c in sb.clients()}
    finally:
        sb.stop()
    reasons = {p.code: p.reason for p in report.rejected}
    dump = report.to_json()
    # on SQLite the first good card carries a cp1250 byte in its name: rejected by name, like the bad code
    first = 2 if erp == "sqlite" else 1
    assert report.counts.written == GOOD - first + 1, dump
    assert {k: v for k, v in written.items() if v is not None} == {
        f"l-KH-{i:03d}": Decimal(f"{100 + i}.00") for i in range(first, GOOD + 1)}
    assert "decimal(15,2)" in reasons["HUGE-LIMIT"] and "decimal(15,2)" in reasons["HUGE-USED"]
    if erp == "sqlite":
        assert "not UTF-8" in reasons["KH\ufffd-99"] and "Knt_Kod" in reasons["KH\ufffd-99"]
        long_reason = next(r for c, r in reasons.items() if c and c.startswith("LLLL"))
        assert "250 characters" in long_reason
        assert "Knt_Nazwa1 is not UTF-8" in reasons["KH-001"]
    for word in ("StringDataRightTruncation", "INSERT INTO", "SELECT ", "Traceback"):
        assert word not in dump


def test_json_amounts_are_exact_decimals_on_the_wire(tmp_path):
    sb = start_sandbox(tmp_path / "shop.db", KEY)
    try:
        sb.add_client("l-BIG", "BIG")
        host = PluginHost(strict=True)
        from tradecredit.testing import MEMORY_ROWS, testing_plugin

        host.add_plugin(testing_plugin, name="testing")
        host.add_plugin(idosell, name="idosell")
        MEMORY_ROWS["wire"] = [CreditRecord(
            source="erp", erp_id="1", code="BIG", is_business=True, limit_state=LimitState.LIMITED,
            credit_limit=Decimal("9999999999999.99"), used=Decimal("1234567890123.45"), as_of=AS_OF)]
        config = parse_config({
            "state": {"url": f"sqlite:///{tmp_path / 's.db'}"},
            "sources": {"erp": {"plugin": "memory", "dataset": "wire"}},
            "targets": {"shop": {"plugin": "idosell", "base_url": sb.url, "api_key": KEY}},
            "pipelines": [{"name": "sync", "source": "erp", "target": "shop"}],
        }, host)
        report = run_pipeline(config, "sync", host=host, as_of=AS_OF)
        put = next(r for r in sb.requests if r.op == "PUT clients/clients")
        client = sb.client("l-BIG")
    finally:
        sb.stop()
    assert report.counts.written == 1
    assert '"clientTradeCreditLimitExternal":9999999999999.99' in put.body.replace(" ", "")
    assert '"clientBalanceAmountExternal":-1234567890123.45' in put.body.replace(" ", "")
    assert "e+" not in put.body
    assert client.limit == Decimal("9999999999999.99") and client.balance == Decimal("-1234567890123.45")


def test_a_non_utf8_xl_card_is_rejected_and_the_others_are_read(tmp_path):
    from tradecredit.plugins.xl import XlOptions, XlSource
    from tradecredit.plugins.xl import schema as xl_schema
    from tradecredit.sdk import RejectedRow

    url = f"sqlite:///{tmp_path / 'xl.db'}"
    engine = create_engine(url)
    create_erp_tables(engine, xl_schema.metadata)
    cards = xl_schema.metadata.tables["CDN.KntKarty"]
    with engine.begin() as conn:
        conn = conn.execution_options(schema_translate_map=schema_map(engine))
        for gid in range(1, 6):  # Knt_LimitTerminowy = 0: unlimited, no limit rows needed
            conn.execute(cards.insert().values(Knt_GIDTyp=32, Knt_GIDNumer=gid, Knt_Akronim=f"C{gid}",
                                               Knt_Nazwa1=f"Firma {gid}", Knt_Status=1, Knt_LimitTerminowy=0,
                                               Knt_KnPParam=0, Knt_KnPNumer=0))
        conn.execute(text("UPDATE KntKarty SET Knt_Akronim = CAST(x'43b9' AS TEXT) WHERE Knt_GIDNumer = 3"))
    engine.dispose()
    source = XlSource(XlOptions(url=url, control_mode="block"), AdapterContext(instance_name="erp"))
    try:
        rows = list(source.read(AS_OF))
    finally:
        source.close()
    rejected = [r for r in rows if isinstance(r, RejectedRow)]
    assert sorted(r.code for r in rows if isinstance(r, CreditRecord)) == ["C1", "C2", "C4", "C5"]
    assert len(rejected) == 1 and "not UTF-8" in rejected[0].reason and rejected[0].erp_id == "3"
