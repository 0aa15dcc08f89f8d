"""``tradecredit demo``: the whole product on the embedded default, in well under a minute.

A built-in plugin like the others (entry point ``demo``), because it composes three of them: it builds an
Optima demo database, starts the IdoSell sandbox (and the e-Sklep storefront) on loopback, and walks through
a dry run, the first sync, an unchanged rerun, a few ERP changes and two trade-credit orders.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from sqlalchemy import create_engine, func, select, update
from tradecredit.plugins.comarch import schema_map
from tradecredit.sdk import (
    PaymentForm,
    RunReport,
    TerminalProgress,
    before_text,
    exit_codes_for_errors,
    format_pln,
    hookimpl,
    load_config,
    require_sandbox_extra,
    round_money,
    run_pipeline,
    text_table,
)

API_KEY_ENV = "TC_DEMO_IDOSELL_KEY"
# The e-Sklep storefront's customers come from three Optima e-Sklep workstations, one per control mode, so the
# storefront shows a blocked, a warned and an allowed checkout. (workstation id, ESS_Nazwa, code, mode) — the codes
# follow the default (UNCONFIRMED) code table: 0 brak, 1 ostrzeżenie, 2 blokada.
WORKSTATIONS = ((1, "e-Sklep", 2, "block"), (2, "Hurtownia", 1, "warn"), (3, "Detal", 0, "allow"))
DEMO_KEY = "demo-key-7f3a9c"
ESHOP_KEY = "demo-eshop-key-51d0"


def _echo_table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> None:
    for line in text_table(rows, header):
        click.echo("  " + line)


def _step(n: int, title: str) -> None:
    click.echo()
    click.secho(f"[{n}] {title}", bold=True)


def _summary(report: RunReport, requests: dict[str, int] | None = None) -> None:
    c = report.counts
    rows = [
        ("read from Optima", c.read), ("rejected (see the reasons)", c.rejected), ("no shop account", c.unmatched),
        ("unchanged", c.unchanged), ("to write" if report.dry_run else "sent", c.to_write),
        ("confirmed by the shop", c.written), ("failed", c.failed),
    ]
    for name, value in (requests or {}).items():
        rows.append((name, value))
    _echo_table(rows, ("customers", "count"))


def _config_text(workdir: Path, optima_url: str, idosell_url: str, eshop: tuple[str, str] | None) -> str:
    text = f"""# Written by `tradecredit demo`; run it yourself: tradecredit run -c {workdir / 'tradecredit.toml'}
[state]
url = "sqlite:///state.db"

[sources.optima_demo]
plugin = "optima"
url = "{optima_url}"
workstation = "e-Sklep"

[targets.idosell_sandbox]
plugin = "idosell"
base_url = "{idosell_url}"
api_key = {{ env = "{API_KEY_ENV}" }}

[[pipelines]]
name = "optima-to-idosell"
source = "optima_demo"
target = "idosell_sandbox"
"""
    if eshop:
        text += f"""
[targets.eshop_storefront]
plugin = "eshop"
base_url = "{eshop[0]}"
api_key = "{eshop[1]}"
"""
        for _, name, _, mode in WORKSTATIONS:
            text += f"""
# the cards on workstation {name!r} (CDN.KntESklepy), with its control mode ({mode})
[sources.optima_{mode}]
plugin = "optima"
url = "{optima_url}"
workstation = "{name}"
only_assigned_to_workstation = true

[[pipelines]]
name = "optima-to-eshop-{mode}"
source = "optima_{mode}"
target = "eshop_storefront"
"""
    return text


def _three_workstations(erp: Any) -> dict[str, int]:
    """The credit controller's setup behind the storefront: three workstations, a third of the cards on each."""
    from tradecredit.plugins.optima.schema import TABLES

    st, sk = TABLES.stanowiska, TABLES.sklepy
    with erp.begin() as conn:
        conn.execute(st.insert(), [{"ESS_ESSId": i, "ESS_Nazwa": n, "ESS_Nieaktywny": 0, "ESS_KontrolaLimituPlat": c}
                                   for i, n, c, _ in WORKSTATIONS[1:]])
        for ws, remainder in ((2, 1), (3, 2)):
            conn.execute(update(sk).where(sk.c.KES_KntID % 3 == remainder).values(KES_eSklepID=ws))
        counts = dict(conn.execute(select(sk.c.KES_eSklepID, func.count()).group_by(sk.c.KES_eSklepID)).all())
    return {name: int(counts.get(i, 0)) for i, name, _, _ in WORKSTATIONS}


def _run(config: Any, pipeline: str, **kwargs: Any) -> RunReport:
    """``run_pipeline`` with a progress bar on stderr (a terminal only) for the long read and write stages."""
    bar = TerminalProgress()
    try:
        return run_pipeline(config, pipeline, progress=bar, **kwargs)
    finally:
        bar.close()


def run_demo(workdir: Path, customers: int = 2000, *, serve: bool = False, port: int = 0,
             storefront: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Run the demo; returns the numbers it printed (used by the tests)."""
    from tradecredit.plugins.idosell import start_sandbox
    from tradecredit.plugins.optima import make_demo_db
    from tradecredit.plugins.optima.schema import TABLES

    started = time.perf_counter()
    workdir = workdir.resolve()  # the config written below must not depend on the current directory
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("optima-demo.db", "idosell-sandbox.db", "state.db", "state.db-wal", "state.db-shm",
                  "eshop-storefront.db"):
        (workdir / stale).unlink(missing_ok=True)
    optima_url = f"sqlite:///{(workdir / 'optima-demo.db').as_posix()}"
    results: dict[str, Any] = {}

    _step(1, f"Build an Optima demo database with {customers} customers")
    bar = TerminalProgress()
    try:
        stats = make_demo_db(optima_url, customers=customers, replace=True, progress=bar)
    finally:
        bar.close()
    click.echo(f"  {optima_url}: {stats.customers} customer cards, {stats.payments} payments, {stats.seconds:.1f} s")

    _step(2, "Start the IdoSell sandbox and open shop accounts for most customers")
    sandbox = start_sandbox(workdir / "idosell-sandbox.db", api_key=DEMO_KEY, port=port)
    kh = TABLES.kontrahenci
    raw_erp = create_engine(optima_url)  # the demo plays the ERP user here, so it may write
    erp = raw_erp.execution_options(schema_translate_map=schema_map(raw_erp))
    if storefront is not None:
        per_ws = _three_workstations(erp)
        click.echo("  e-Sklep workstations (control mode): " + ", ".join(
            f"{name} ({mode}: {per_ws[name]} cards)" for _, name, _, mode in WORKSTATIONS))
    with erp.connect() as conn:
        codes = [r[0] for r in conn.execute(
            select(kh.c.Knt_Kod).where(kh.c.Knt_PodmiotTyp == 1, kh.c.Knt_Nieaktywny == 0).order_by(kh.c.Knt_KntId)
        )]
    with_account = [c for i, c in enumerate(codes) if i % 20 != 7]  # every 20th customer has no shop account
    # Some accounts already carry a limit typed in by hand in the shop panel: the dry run shows what the
    # first sync will overwrite (seed 000 asks to make sure the ERP's data is the newer one first).
    sandbox.add_clients([{"login": f"login_{c.lower()}", "code_external": c,
                          "limit": "10000.00" if i % 4 == 1 else None} for i, c in enumerate(with_account)])
    click.echo(f"  sandbox at {sandbox.url}: {len(with_account)} shop accounts for {len(codes)} active ERP cards")

    eshop_handle = storefront(workdir) if storefront else None
    eshop = (eshop_handle.url, eshop_handle.api_key) if eshop_handle else None
    config_path = workdir / "tradecredit.toml"
    config_path.write_text(_config_text(workdir, optima_url, sandbox.url, eshop), encoding="utf-8")
    os.environ[API_KEY_ENV] = DEMO_KEY
    config = load_config(config_path)
    pipeline = "optima-to-idosell"

    try:
        _step(3, "Dry run: what the first sync would overwrite in the shop (nothing is written)")
        sandbox.reset_log()
        dry = _run(config, pipeline, dry_run=True)
        _summary(dry, {"write requests sent": sandbox.count("PUT clients/clients")})
        rows = [(p.code, p.field, before_text(p), p.new) for p in dry.plan[:6]]
        _echo_table(rows, ("customer", "field", "before (? = the shop cannot tell)", "after sync"))
        click.echo(f"  … {len(dry.plan)} field changes in all")
        results["dry_run_writes"] = sandbox.count("PUT clients/clients")

        _step(4, "First sync")
        sandbox.reset_log()
        first = _run(config, pipeline)
        _summary(first, {"PUT clients/clients requests": sandbox.count("PUT clients/clients")})
        reasons = Counter(p.reason for p in first.rejected)
        for reason, n in reasons.most_common(4):
            click.echo(f"  rejected {n}×: {reason}")
        results["first_written"] = first.counts.written

        _step(5, "Second sync with no ERP change: nothing to send")
        sandbox.reset_log()
        second = _run(config, pipeline)
        _summary(second, {"PUT clients/clients requests": sandbox.count("PUT clients/clients")})
        results["second_writes"] = sandbox.count("PUT clients/clients")

        _step(6, "The credit controller raises three customers' limits in Optima; only they are sent")
        with erp.begin() as conn:
            # customers whose shop limit is their Optima limit (not lifted by ALLOW, not cut by overdue payments)
            erp_limit = dict(conn.execute(
                select(kh.c.Knt_Kod, kh.c.Knt_LimitKredytu).where(kh.c.Knt_LimitFlag == 1)).all())
            limited = [c for c in with_account if c in erp_limit and (shop := sandbox.client(f"login_{c.lower()}"))
                       and shop.limit and shop.limit == round_money(Decimal(str(erp_limit[c])))][:3]
            for code in limited:
                limit = conn.execute(select(kh.c.Knt_LimitKredytu).where(kh.c.Knt_Kod == code)).scalar_one()
                conn.execute(update(kh).where(kh.c.Knt_Kod == code).values(
                    Knt_LimitKredytu=round_money(Decimal(str(limit)) + 5000),
                ))
        sandbox.reset_log()
        third = _run(config, pipeline)
        _summary(third, {"PUT clients/clients requests": sandbox.count("PUT clients/clients")})
        shop_now = [sandbox.client(f"login_{c.lower()}") for c in limited]
        _echo_table([(c, format_pln(s.limit), format_pln(s.balance)) for c, s in zip(limited, shop_now, strict=True)],
                    ("customer", "limit in the shop now", "ERP balance in the shop"))
        results["third_written"] = third.counts.written

        _step(7, "Two trade-credit orders in the shop, checked by the shop's own credit rule")
        buyer = next(
            login for c in with_account if (avail := sandbox.available(login := f"login_{c.lower()}")) and avail > 500
        )
        left = sandbox.available(buyer) or Decimal("0")
        small = Decimal("100.00")
        ok = sandbox.place_order(buyer, str(small))
        big = sandbox.place_order(buyer, str(left + Decimal("1000.00")))
        _echo_table(
            [(buyer, format_pln(small), "accepted" if ok.accepted else f"refused: {ok.message}"),
             (buyer, format_pln(left + Decimal("1000.00")), "accepted" if big.accepted else f"refused: {big.message}")],
            ("shop account", "order (tradecredit)", "result"),
        )
        results["orders"] = (ok.accepted, big.accepted)

        if eshop_handle is not None:
            _step(8, "Sync the customers of the three e-Sklep workstations into the e-Sklep B2B storefront")
            reports = [_run(config, f"optima-to-eshop-{mode}") for *_, mode in WORKSTATIONS]
            for report in reports:
                click.echo(f"  {report.pipeline}: {report.counts.written} written, {report.counts.rejected} rejected")
            results["eshop_written"] = sum(r.counts.written for r in reports)
            checkouts = _checkouts(eshop_handle)
            results["eshop_modes"] = {mode: outcome for mode, (_, outcome) in checkouts.items()}
            results["eshop_mode_customers"] = {mode: code for mode, (code, _) in checkouts.items()}
            click.echo(f"  storefront: {eshop_handle.url}  (log in with one of the customer codes above)")

        elapsed = time.perf_counter() - started
        click.echo()
        click.secho(f"Demo finished in {elapsed:.1f}s. Files in {workdir}", bold=True)
        click.echo(f"  config: {config_path}   (try: tradecredit state history -c {config_path})")
        results["seconds"] = elapsed
        if serve:
            click.echo(f"  what the IdoSell sandbox holds: {sandbox.url}/  (limit, balance, last write, order rule)")
            shown = f"  IdoSell sandbox: {sandbox.url}"
            click.echo(shown + (f"   storefront: {eshop_handle.url}" if eshop_handle else ""))
            click.echo("  Serving until Ctrl+C …")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
    finally:
        sandbox.stop()
        if eshop_handle is not None:
            eshop_handle.stop()
        raw_erp.dispose()
    return results


def _checkouts(eshop: Any) -> dict[str, tuple[str, str]]:
    """One company per control mode, ordering more than its credit left by transfer: what the storefront does
    (mode → the customer's code, the outcome)."""
    rows, outcomes = [], {}
    for *_, mode in WORKSTATIONS:
        customer = next((c for c in eshop.customers() if c.item.is_business and c.item.currency == "PLN"
                         and c.item.control_mode.value == mode
                         and (c.item.remaining or 0) > 0), None)
        if customer is None:
            continue
        amount = round_money(customer.item.remaining + Decimal("500.00"))
        decision = eshop.store.decide(customer.code, amount, PaymentForm.TRANSFER)
        outcome = decision.outcome.value if decision is not None else "allow"
        outcomes[mode] = (customer.code, outcome)
        verdict = {"block": "refused", "warn": "placed, with the warning", "allow": "placed"}[outcome]
        rows.append((customer.code, mode, format_pln(customer.item.remaining), format_pln(amount),
                     verdict + (f": {decision.message_pl}" if decision is not None and decision.message_pl else "")))
    _echo_table(rows, ("customer", "mode", "credit left", "order (przelew)", "storefront"))
    return outcomes


@click.command("demo")
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("var/demo"),
              show_default=True, help="Where the demo's databases and config are written.")
@click.option("--customers", default=2000, show_default=True, help="Customers in the Optima demo database.")
@click.option("--serve", is_flag=True, help="Keep the sandbox (and storefront) running afterwards, until Ctrl+C.")
@click.option("--port", default=0, help="Port of the IdoSell sandbox (0 = any free port).")
@exit_codes_for_errors
def demo_command(workdir: Path, customers: int, serve: bool, port: int) -> None:
    """Run the end-to-end demo on the embedded default (SQLite, loopback sandboxes)."""
    require_sandbox_extra("tradecredit demo")
    run_demo(workdir, customers, serve=serve, port=port, storefront=_storefront_factory())


def _storefront_factory() -> Callable[..., Any] | None:
    """Start the e-Sklep demo storefront beside the IdoSell sandbox, with the credit-limit switch on."""
    from tradecredit.plugins.eshop import start_storefront

    def start(workdir: Path) -> Any:
        return start_storefront(workdir / "eshop-storefront.db", api_key=ESHOP_KEY, limits_enabled=True)

    return start


@hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(demo_command)
