"""The target's policy (payload), options, check and the cache behaviour of match."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import ValidationError
from tradecredit import CheckStatus, ControlMode, LimitState, OutgoingItem, degrade_mode
from tradecredit.core.engine import CreditPolicy, NoLimitPolicy
from tradecredit.plugins.idosell.faults import Fault, parse_fault
from tradecredit.plugins.idosell.target import IdoSellOptions, IdoSellTarget

from . import helpers as h


def payload(target: IdoSellTarget, rec: Any) -> dict[str, Any]:
    mode = degrade_mode(rec.control_mode, target.supported_modes(), target.mode_policy())
    return target.payload(rec, {"clientLogin": "firma", "clientId": 1}, mode)


@pytest.fixture
def target() -> IdoSellTarget:
    opts = IdoSellOptions(base_url="https://shop.example.com/", api_key="k" * 12)
    return IdoSellTarget(opts, None)  # type: ignore[arg-type]


def test_payload_sends_erp_debt_negative_and_the_limit(target):
    p = payload(target, h.record("KH-1", limit="5000.00", used="1234.56"))
    assert p == {"clientLogin": "firma", "clientTradeCreditLimitExternal": "5000.00",
                 "clientBalanceAmountExternal": "-1234.56"}
    assert payload(target, h.record("KH-1", limit="5000.00", used="1234.56")) == p  # deterministic
    assert payload(target, h.record("KH-1", used="0.00"))["clientBalanceAmountExternal"] == "0.00"  # never -0.00


def test_balance_sign_positive():
    t = IdoSellTarget(IdoSellOptions(base_url="https://s.example", api_key="kkkkkkkk", balance_sign="positive"), None)
    assert payload(t, h.record("KH-1", used="10.00"))["clientBalanceAmountExternal"] == "10.00"


def _with_policy(policy: CreditPolicy, **options: Any) -> IdoSellTarget:
    from tradecredit import AdapterContext

    opts = IdoSellOptions(base_url="https://s.example", api_key="kkkkkkkk", **options)
    return IdoSellTarget(opts, AdapterContext(instance_name="shop", policy=policy))


def test_none_zero_lapsed_and_unlimited_follow_the_engine(target):
    none = payload(target, h.record("KH-1", limit=None))
    zero = payload(target, h.record("KH-1", limit="0.00"))
    lapsed = payload(target, h.record("KH-1", limit=None, limit_state=LimitState.LAPSED))
    unlimited = payload(target, h.record("KH-1", limit=None, limit_state=LimitState.UNLIMITED))
    # [engine] no_limit = unrestricted (default): no limit granted means no limit rule, as in every target
    assert none["clientTradeCreditLimitExternal"] == "999999999.99" == unlimited["clientTradeCreditLimitExternal"]
    assert zero["clientTradeCreditLimitExternal"] == "0.00" == lapsed["clientTradeCreditLimitExternal"]
    t = _with_policy(CreditPolicy(no_limit=NoLimitPolicy.NO_CREDIT), unlimited_amount="5000000")
    assert payload(t, h.record("KH-1", limit=None))["clientTradeCreditLimitExternal"] == "0.00"
    assert payload(t, h.record("KH-1", limit=None, limit_state=LimitState.UNLIMITED))[
        "clientTradeCreditLimitExternal"] == "5000000.00"
    _, _, decided = t.shop_values(h.record("KH-1", limit=None), degrade_mode(ControlMode.BLOCK, t.supported_modes()))
    assert decided.shop_limit_reason.value == "zero_no_limit"


def test_removed_options_say_what_replaces_them():
    with pytest.raises(ValidationError) as err:
        IdoSellOptions(base_url="https://s.example", api_key="kkkkkkkk", none_limit="zero", overdue_block=False)
    text = {e["loc"][0]: e["msg"] for e in err.value.errors()}
    assert "[engine] no_limit" in text["none_limit"] and "delete the option" in text["overdue_block"]
    with pytest.raises(ValidationError, match='allow_mode = "unlimited"'):
        IdoSellOptions(base_url="https://s.example", api_key="kkkkkkkk", mode_policy={"warn": "allow"})


def test_by_default_every_mode_gets_the_erp_limit_unlimited_is_opt_in(target):
    """Case 3: seed 000 overwrites IdoSell's limit with the ERP's, whatever mode the ERP holds."""
    for mode in ControlMode:
        rec = h.record("KH-1", limit="300.00", control_mode=mode)
        assert payload(target, rec)["clientTradeCreditLimitExternal"] == "300.00", mode
        assert degrade_mode(mode, target.supported_modes(), target.mode_policy()).effective is ControlMode.BLOCK
    lifted = _with_policy(CreditPolicy(), allow_mode="unlimited")
    warn = h.record("KH-1", limit="300.00", control_mode=ControlMode.WARN)
    assert payload(lifted, h.record("KH-1", control_mode=ControlMode.ALLOW))["clientTradeCreditLimitExternal"] \
        == "999999999.99"
    assert payload(lifted, warn)["clientTradeCreditLimitExternal"] == "999999999.99"
    strict = _with_policy(CreditPolicy(), allow_mode="unlimited", mode_policy={"warn": "block"})
    assert payload(strict, warn)["clientTradeCreditLimitExternal"] == "300.00"


def test_overdue_breached_under_block_leaves_no_credit(target):
    rec = h.record("KH-1", limit="1000.00", used="400.00", overdue=Decimal("50.00"), overdue_limit=Decimal("10.00"))
    assert payload(target, rec) == {"clientLogin": "firma", "clientTradeCreditLimitExternal": "0.00",
                                    "clientBalanceAmountExternal": "-400.00"}
    unlimited = h.record("KH-1", limit=None, limit_state=LimitState.UNLIMITED, overdue=Decimal("5.00"),
                         overdue_limit=Decimal("0.00"))
    assert payload(target, unlimited)["clientTradeCreditLimitExternal"] == "0.00"
    # case 4: a prepayment (negative used) must not leave credit by the shop's rule limit − debt − pending
    prepaid = h.record("KH-1", limit="1000.00", used="-250.00", overdue=Decimal("50.00"),
                       overdue_limit=Decimal("10.00"))
    assert payload(target, prepaid) == {"clientLogin": "firma", "clientTradeCreditLimitExternal": "0.00",
                                        "clientBalanceAmountExternal": "0.00"}


def test_other_currency_is_unsupported_not_bad_data(target):
    why = target.unsupported(h.record("KH-1", currency="EUR"))
    assert why is not None and why.reason_code.value == "unsupported_currency" and "EUR" in why.reason
    assert target.unsupported(h.record("KH-1")) is None


def test_options_validation():
    with pytest.raises(ValidationError) as err:
        IdoSellOptions(base_url="shop.example.com", api_key="kkkkkkkk", batch_size=500, colour="red",
                       balance_sign="up")
    fields = {e["loc"][0] for e in err.value.errors()}
    assert fields == {"base_url", "batch_size", "colour", "balance_sign"}
    assert IdoSellTarget(IdoSellOptions(base_url="https://s.example", api_key="kkkkkkkk", batch_size=40),
                         None).batch_size() == 40  # type: ignore[arg-type]


def test_match_uses_the_cache_and_skips_codes_with_commas(sandbox):
    class Cache(dict):
        def get_many(self, ns, keys):
            return {k: self[(ns, k)] for k in keys if (ns, k) in self}

        def put_many(self, ns, values):
            self.update({(ns, k): v for k, v in values.items()})

        def delete(self, ns, keys):
            for k in keys:
                self.pop((ns, k), None)

    codes = h.seed(sandbox, 3)
    sandbox.add_client("dup_a", "KH-DUP")
    sandbox.add_client("dup_b", "KH-DUP")
    cache = Cache()
    t = h.make_target(sandbox, cache=cache)
    found = t.match([*codes, "A,B", "KH-DUP"])
    assert set(found) == set(codes)  # a code on two accounts is ambiguous: unmatched, never guessed
    assert found[codes[0]] == {"clientLogin": h.login_of(codes[0]), "clientId": 1}
    n = sandbox.count()
    assert t.match(codes) == found
    assert sandbox.count() == n
    t.forget_matches([codes[0]])
    t.match(codes)
    assert sandbox.count() == n + 1


def test_check_reports_access_matching_and_degraded_modes(sandbox):
    codes = h.seed(sandbox, 3)
    lines = {r.name: r for r in h.make_target(sandbox).check([*codes, "KH-ZZZ"])}
    assert lines["api"].status is CheckStatus.OK and lines["write scope"].status is CheckStatus.OK
    assert lines["match"].status is CheckStatus.WARN and "3 of 4" in lines["match"].detail
    assert lines["mode warn"].status is CheckStatus.WARN and "enforced as block" in lines["mode warn"].detail
    assert 'allow_mode = "unlimited"' in lines["mode allow"].detail
    assert "cannot apply [engine] stale_fallback" in lines["stale data"].detail
    assert lines["mode block"].status is CheckStatus.OK and lines["mode allow"].status is CheckStatus.WARN
    sandbox.add_key("readonly-key-1234", {"clients": "r"})
    lines = {r.name: r for r in h.make_target(sandbox, api_key="readonly-key-1234").check(None)}
    assert lines["credentials"].status is CheckStatus.FAIL
    assert "Scope: clients, level: w" in lines["credentials"].detail
    assert "readonly-key-1234" not in lines["credentials"].detail
    lines = h.make_target(sandbox, api_version="v5").check(None)
    assert lines[0].status is CheckStatus.FAIL and "v5" in lines[0].detail


def items_for(target: IdoSellTarget, records: list[Any]) -> list[OutgoingItem]:
    matches = target.match([r.code for r in records])
    out = []
    for rec in records:
        mode = degrade_mode(rec.control_mode, target.supported_modes(), target.mode_policy())
        out.append(OutgoingItem(key=rec.key, code=rec.code, payload=target.payload(rec, matches[rec.code], mode),
                                match=matches[rec.code], record=rec, mode=mode))
    return out


def test_current_reads_login_and_limit_never_the_balance(sandbox):
    codes = h.seed(sandbox, 3)
    sandbox.store.update_client(h.login_of(codes[0]), {"clientTradeCreditLimitExternal": Decimal("1500.5"),
                                                       "clientBalanceAmountExternal": Decimal("-20.00")})
    target = h.make_target(sandbox)
    items = items_for(target, [h.record(c) for c in codes])
    sandbox.store.rename_client(h.login_of(codes[2]), "renamed")  # the matched login is gone: unknown
    before = sandbox.count()
    current = target.current(items)
    assert sandbox.count() == before + 1 and sandbox.count("PUT clients/clients") == 0  # one GET, read only
    assert current == {
        items[0].key: {"clientLogin": h.login_of(codes[0]), "clientTradeCreditLimitExternal": "1500.50"},
        items[1].key: {"clientLogin": h.login_of(codes[1]), "clientTradeCreditLimitExternal": "0.00"},
    }
    assert set(current[items[0].key]) <= set(items[0].payload)  # payload keys, payload formatting
    assert IdoSellTarget.identity_fields == frozenset({"clientLogin"}) and "clientLogin" in items[0].payload
    # without cached clientIds the accounts are looked up by code, still paired by login
    by_code = [i.model_copy(update={"match": {"clientLogin": i.match["clientLogin"]}}) for i in items]
    assert target.current(by_code) == current
    assert "clientCodesExternal" in dict(sandbox.requests[-1].query)
    assert target.current([]) == {}
    target.close()


def test_check_write_probe_is_ok_only_when_the_shop_processed_it(sandbox):
    h.seed(sandbox, 1)
    target = h.make_target(sandbox)
    line = {r.name: r for r in target.check(None)}["write scope"]
    assert line.status is CheckStatus.OK and "HTTP 207" in line.detail
    sandbox.inject("4xx", status=422, op="PUT clients/clients", fault_string="Invalid data format")
    line = {r.name: r for r in target.check(None)}["write scope"]
    assert line.status is CheckStatus.WARN and "not confirmed" in line.detail and "HTTP 422" in line.detail
    sandbox.inject("4xx", status=404, op="PUT clients/clients", fault_string="Not found")
    line = {r.name: r for r in target.check(None)}["write scope"]
    assert line.status is CheckStatus.FAIL and "not found" in line.detail
    target.close()


def test_check_warns_about_accounts_in_another_currency(sandbox):
    codes = h.seed(sandbox, 2)
    sandbox.add_client("firma_eur", "KH-EUR", currency="EUR")
    target = h.make_target(sandbox)
    lines = {r.name: r for r in target.check([*codes, "KH-EUR"])}
    assert lines["currency"].status is CheckStatus.WARN
    assert "EUR: 1 (KH-EUR)" in lines["currency"].detail and "unsupported" in lines["currency"].detail
    lines = {r.name: r for r in target.check(codes)}
    assert lines["currency"].status is CheckStatus.OK and "PLN" in lines["currency"].detail
    assert "currency" not in {r.name for r in target.check(["KH-NOBODY"])}  # nothing matched: nothing to read
    target.close()


def test_fault_syntax():
    f = parse_fault("429:times=3,retry_after=1.5")
    assert (f.kind, f.times, f.retry_after) == ("429", 3, 1.5)
    assert parse_fault("503:times=always").status == 503 and parse_fault("503").times == 1
    assert parse_fault("partial:refs=KH-1|KH-2").refs == {"KH-1", "KH-2"}
    assert parse_fault("drop:op=PUT clients/clients").op == "PUT clients/clients"
    for bad in ("teapot", "429:times", "slow:speed=2"):
        with pytest.raises((ValueError, TypeError)):
            parse_fault(bad)
    assert Fault(kind="partial").op == "PUT clients/clients"
    f = parse_fault("422:op=PUT clients/clients,fault_string=Invalid data")
    assert (f.kind, f.status, f.fault_string) == ("4xx", 422, "Invalid data")
    assert parse_fault("4xx").status == 422 and parse_fault("400").status == 400
    assert parse_fault("429").kind == "429" and parse_fault("500").status == 500
    with pytest.raises(ValueError, match="4xx status"):
        Fault(kind="4xx", status=503)


def test_cli_registers_the_sandbox_command():
    import click
    from tradecredit.plugins import idosell

    @click.group()
    def root() -> None: ...

    @root.group()
    def sandbox() -> None: ...

    idosell.register_commands(cli=root)  # the hook, on a fresh CLI (the real one is process-global)
    result = CliRunner().invoke(root, ["sandbox", "idosell", "--help"])
    assert result.exit_code == 0, result.output
    assert "--fault" in result.output and "--db" in result.output
    bad = CliRunner().invoke(root, ["sandbox", "idosell", "--fault", "teapot"])
    assert bad.exit_code == 2 and "unknown fault kind" in bad.output


def test_cli_sandbox_port_in_use_is_a_clear_error_and_the_banner_follows_the_bind(monkeypatch, tmp_path):
    import socket

    from tradecredit import sdk
    from tradecredit.plugins.idosell.cli import sandbox_cmd

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        db = tmp_path / "shop.db"
        result = CliRunner().invoke(sandbox_cmd, ["--port", str(port), "--db", str(db)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)  # a ClickException, not a crash
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in result.output
    assert "IdoSell sandbox on" not in result.output and "Traceback" not in result.output
    assert not db.exists()  # nothing created before the port was known to be free

    served: list[str] = []
    monkeypatch.setattr(sdk, "serve_forever", lambda app, host, port, **kw: served.append(f"{host}:{port}"))
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    ok = CliRunner().invoke(sandbox_cmd, ["--port", str(port)])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith(f"IdoSell sandbox on http://127.0.0.1:{port}") and served == [f"127.0.0.1:{port}"]
