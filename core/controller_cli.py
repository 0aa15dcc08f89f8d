"""The credit controller's commands: ``explain``, ``customers``, ``history`` and ``console``.

Registered on the ``tradecredit`` group by ``register(cli)`` (one line in ``core.cli``). Each renders the data of
``core.controller`` in Polish or English (``--lang``, default from the locale; ``core.i18n``).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import wraps
from pathlib import Path
from typing import Any

import click

from . import controller
from .i18n import LANGS, Lang, default_lang, money, percent, reason_text, t, value_text, when
from .report import ExitCode, text_table
from .secrets import mask

CONFIG = click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False),
                      envvar="TRADECREDIT_CONFIG", help="Path of the TOML config file (or $TRADECREDIT_CONFIG).")
LANG = click.option("--lang", type=click.Choice(LANGS), default=None,
                    help="Language of the output: pl or en (default: from the locale, LANG/LC_ALL).")


def _lang(value: str | None) -> Lang:
    return value if value in LANGS else default_lang()


def _json(data: Any) -> str:
    return mask(json.dumps(data, indent=2, ensure_ascii=False, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _amount(text: str) -> Decimal:
    try:
        return Decimal(text.replace(" ", "").replace("\xa0", "").replace(",", "."))
    except InvalidOperation:
        raise click.BadParameter(f"{text!r} is not an amount") from None


# --- explain -----------------------------------------------------------------------------------------------
def render_explain(data: Mapping[str, Any], lang: Lang) -> str:
    """``tradecredit explain`` as text (the console renders the same dict as HTML)."""
    code = data["code"]
    lines = [t("x.title", lang, code=code), ""]
    for name, src in data["sources"].items():
        rec = src["record"]
        if rec is None:
            lines.append(t("x.not_found", lang, code=code, source=name))
            lines += [t("x.rejected", lang, reason=r) for r in src["rejected"]]
            continue
        lines.append(t("x.erp", lang, source=name, as_of=when(datetime.fromisoformat(rec["as_of"]), lang)))
        rows = [(label, value, src["fields"].get(key, "")) for key, label, value in erp_rows(rec, lang)]
        lines += ["  " + r for r in text_table(rows, ("", t("value", lang), t("x.fields", lang)))]
        if rec.get("extra"):
            lines += ["", t("x.extra", lang) + ": " + ", ".join(f"{k} = {v}" for k, v in sorted(rec["extra"].items()))]
        lines.append("")
    for p in data["pipelines"]:
        lines += _explain_pipeline_text(p, lang)
    return mask("\n".join(lines).rstrip())


def erp_rows(rec: Mapping[str, Any], lang: Lang) -> list[tuple[str, str, str]]:
    """(key, label, value) of the ERP record; ``key`` names the value in ``Source.describe``."""
    cur = rec["currency"]
    rows = [
        ("name", t("name", lang), rec["name"]),
        ("business", t("business", lang), t("yes" if rec["is_business"] else "no", lang)),
        ("limit_state", t("limit_state", lang), t(f"state.{rec['limit_state']}", lang)),
        ("limit", t("erp_limit", lang), money(rec["credit_limit"], cur, lang)),
        ("used", t("used", lang), money(rec["used"], cur, lang)),
        ("overdue", t("overdue", lang), money(rec["overdue"], cur, lang)),
        ("overdue_limit", t("overdue_limit", lang), money(rec["overdue_limit"], cur, lang)),
        ("mode", t("mode", lang), t(f"mode.{rec['control_mode']}", lang)),
    ]
    if rec.get("valid_from") or rec.get("valid_to"):
        rows.append(("valid", t("x.valid", lang), f"{rec.get('valid_from') or '…'} – {rec.get('valid_to') or '…'}"))
    if rec.get("payer_code"):
        rows.append(("payer", t("x.payer", lang), rec["payer_code"]))
    return rows


def verdict_rows(facts: Mapping[str, Any], lang: Lang) -> list[tuple[str, str, str]]:
    """(value, amount, why) of the engine's verdict: limit, overdue rule, available, the largest deferred order."""
    cur = facts.get("currency", "PLN")
    reasons = facts.get("reasons") or {}
    if facts.get("overdue_limit") is None:
        overdue = t("x.overdue_none", lang)
    elif facts.get("overdue_breached"):
        overdue = t("x.overdue_breached", lang, overdue=money(facts["overdue"], cur, lang),
                    overdue_limit=money(facts["overdue_limit"], cur, lang))
    else:
        overdue = t("x.overdue_ok", lang)
    headroom = facts.get("headroom")
    return [
        (t("limit", lang), money(facts.get("limit"), cur, lang) if facts.get("limit") is not None
         else t("x.no_cap", lang), reason_text(reasons.get("limit"), facts, lang)),
        (t("x.overdue_rule", lang), overdue, ""),
        (t("available", lang), money(facts.get("available"), cur, lang), ""),
        (t("headroom", lang), money(headroom, cur, lang) if headroom is not None else t("x.no_cap", lang),
         reason_text(reasons.get("shop_limit"), facts, lang)),
    ]


def _explain_pipeline_text(p: Mapping[str, Any], lang: Lang) -> list[str]:
    facts = p.get("facts")
    mode = p.get("mode") or {}
    lines = [t("x.target", lang, target=p["target"], pipeline=p["pipeline"],
               mode=t(f"mode.{mode.get('effective', '?')}", lang) if mode else "—")]
    if mode.get("degraded"):
        lines.append("  " + t("x.degraded", lang, requested=mode["requested"], effective=mode["effective"]))
    if facts:
        lines += ["", t("x.verdict", lang) + ":"]
        lines += ["  " + r for r in text_table(verdict_rows(facts, lang), ("", t("value", lang), t("reason", lang)))]
    order = p.get("order")
    if order:
        lines += ["", t("x.order", lang, amount=money(order["amount"], facts["currency"] if facts else "PLN", lang))
                  + f": {t('decision.' + order['outcome'], lang).upper()} ({', '.join(order['reasons'])})"]
        message = order.get(f"message_{lang}")
        if message:
            lines.append(f"  {t('x.message', lang)}: \u201e{message}\u201d" if lang == "pl"
                         else f"  {t('x.message', lang)}: \"{message}\"")
    confirmed = p.get("confirmed")
    lines.append("")
    since = p.get("blocked_since")
    if since:
        lines.append(t("x.blocked_since", lang, when=when(since["at"], lang), run=since["run_id"]))
    if confirmed:
        lines.append(t("x.last_confirmed", lang, when=when(confirmed["at"], lang), run=confirmed["run_id"]))
        lines += [f"  {k} = {value_text(v, lang)}" for k, v in sorted(confirmed["payload"].items())]
    else:
        lines.append(t("x.never_confirmed", lang))
    sticky = p.get("sticky")
    if sticky:
        lines.append(t("x.sticky", lang, outcome=t(f"outcome.{sticky['outcome']}", lang),
                       since=when(sticky["since"], lang), run=sticky["run_id"], reason=sticky["reason"] or ""))
    if p.get("unsupported"):
        lines.append(t("x.unsupported", lang, reason=p["unsupported"]["reason"]))
    elif p.get("unmatched"):
        lines.append(t("x.unmatched", lang))
    elif p.get("match_error"):
        lines.append(t("x.match_failed", lang, error=p["match_error"]))
    elif p.get("payload_error"):
        lines.append(t("x.rejected_payload", lang, reason=p["payload_error"]))
    elif "payload" in p:
        lines += ["", t("x.payload", lang) + ":"]
        hidden = set(p.get("identity_fields", ()))
        rows = [(k, value_text(v, lang), (p["reasons"].get(k) or ""),
                 reason_text(p["reasons"].get(k), facts, lang))
                for k, v in sorted(p["payload"].items()) if k not in hidden]
        header = (t("field", lang), t("value", lang), t("reason_code", lang), t("reason", lang))
        lines += ["  " + r for r in text_table(rows, header)]
        lines.append("")
        if p["unchanged"]:
            lines.append(t("x.unchanged", lang))
        else:
            lines.append(t("x.will_send", lang, n=len(p["next_run"])) + ":")
            lines += [f"  {c['field']}: {value_text(c['old'], lang) if c['known_old'] else '?'} → "
                      f"{value_text(c['new'], lang)}" + (f"  ({c['reason']})" if c.get("reason") else "")
                      for c in p["next_run"]]
    lines.append("")
    return lines


@click.command("explain")
@CONFIG
@click.argument("code")
@click.option("--order", "order", default=None, help="Decide a deferred order of this gross amount (1234.56).")
@click.option("--pipeline", default=None, help="Only this pipeline (default: every enabled one).")
@LANG
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def explain_command(config_path: str, code: str, order: str | None, pipeline: str | None, lang: str | None,
                    as_json: bool) -> None:
    """Why customer CODE has the credit they have: the ERP values, the engine's verdict with the reason of each
    value, the decision on a deferred order of --order, what the shop last confirmed and when, and what the next
    run would send. Reads only this customer from the ERP; writes nothing. Exit 1 when the ERP has no such code.
    """
    from .config import load_config

    cfg = load_config(config_path)
    data = controller.explain(cfg, code, order=_amount(order) if order else None, pipeline=pipeline)
    click.echo(_json(data) if as_json else render_explain(data, _lang(lang)))
    if not any(s["found"] for s in data["sources"].values()):
        sys.exit(int(ExitCode.ERROR))


# --- customers ---------------------------------------------------------------------------------------------
COLUMNS = ("pipeline", "code", "name", "limit", "used", "overdue", "available", "utilisation", "mode", "blocked",
           "shop_holds", "confirmed", "run")


def book_cells(row: Mapping[str, Any], lang: Lang) -> list[str]:
    """One customers-table row as text, in the columns of ``COLUMNS``."""
    cur = row["currency"]
    holds = row["shop_holds"]
    return [
        row["pipeline"], row["code"], row["name"],
        money(row["limit"], cur, lang) if row["limit"] is not None or not row["facts"] else t("x.no_cap", lang),
        money(row["used"], cur, lang), money(row["overdue"], cur, lang), money(row["available"], cur, lang),
        percent(Decimal(row["utilisation"]) if row["utilisation"] else None, lang),
        t(f"mode.{row['mode']}", lang) if row["mode"] else t(f"outcome.{row['outcome']}", lang),
        t("yes" if row["blocked"] else "no", lang),
        "" if holds is None else ", ".join(f"{k}={value_text(v, lang)}" for k, v in sorted(holds.items())
                                            if k not in ("code", "name", "policy")),
        when(row["confirmed_at"], lang), f"#{row['run_id']}" if row["run_id"] is not None else "",
    ]


def export_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The machine-readable form of the book (csv, xlsx, json): plain amounts, ISO times, reason codes."""
    out = []
    for r in rows:
        out.append({
            "pipeline": r["pipeline"], "target": r["target"], "code": r["code"], "name": r["name"],
            "currency": r["currency"], "limit": r["limit"], "limit_state": r["limit_state"], "used": r["used"],
            "overdue": r["overdue"], "overdue_limit": r["overdue_limit"], "available": r["available"],
            "headroom": r["headroom"], "utilisation_pct": r["utilisation"], "mode": r["mode"],
            "blocked": r["blocked"], "limit_reason": r["reasons"].get("limit"),
            "shop_limit_reason": r["reasons"].get("shop_limit"), "outcome": r["outcome"],
            "outcome_reason": r.get("outcome_reason") or "",
            "shop_holds": json.dumps(r["shop_holds"], ensure_ascii=False, sort_keys=True) if r["shop_holds"] else "",
            "confirmed_at": r["confirmed_at"].isoformat() if r["confirmed_at"] else "", "run_id": r["run_id"],
        })
    return out


def to_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    records = export_rows(rows)
    writer = csv.DictWriter(buf, fieldnames=list(records[0]) if records else ["code"])
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()


def to_xlsx(rows: Sequence[Mapping[str, Any]], lang: Lang) -> bytes:
    """The book as an Excel workbook (openpyxl): amounts as numbers with two decimals, a frozen header."""
    try:
        from openpyxl import Workbook  # type: ignore[import-untyped]  # no stubs; used only here
    except ImportError:
        raise click.ClickException("xlsx export needs openpyxl: pip install 'tradecredit[console]'") from None
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Klienci" if lang == "pl" else "Customers"
    records = export_rows(rows)
    header = list(records[0]) if records else ["code"]
    ws.append(header)
    money_cols = {"limit", "used", "overdue", "overdue_limit", "available", "headroom"}
    for rec in records:
        ws.append([float(v) if k in money_cols and v is not None else v for k, v in rec.items()])
    for col, name in enumerate(header, start=1):
        if name in money_cols:
            for cell in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                cell[0].number_format = "#,##0.00"
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def book_filter(pipeline: str | None, blocked: bool, over: str | None, changed_since: str | None, sort: str,
                search: str | None = None) -> controller.BookFilter:
    try:
        return controller.BookFilter(
            pipeline=pipeline, blocked=blocked, over=_amount(over) if over else None,
            changed_since=controller.parse_day(changed_since) if changed_since else None, sort=sort,
            search=search or None,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("customers")
@CONFIG
@click.option("--pipeline", default=None, help="Only this pipeline.")
@click.option("--blocked", is_flag=True, help="Only customers who cannot place a deferred order now.")
@click.option("--over", default=None, metavar="PCT", help="Only customers using at least PCT % of their limit.")
@click.option("--changed-since", default=None, metavar="DATE",
              help="Only customers confirmed since DATE (YYYY-MM-DD, Europe/Warsaw).")
@click.option("--sort", default="code", show_default=True,
              help=f"Sort by {', '.join(controller.SORT_KEYS)}; '-' in front for descending (-utilisation).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "xlsx", "json"]), default="table",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write to this file (required for xlsx; default stdout).")
@LANG
@click.pass_context
def customers_command(ctx: click.Context, config_path: str, pipeline: str | None, blocked: bool, over: str | None,
                      changed_since: str | None, sort: str, fmt: str, output: str | None, lang: str | None) -> None:
    """The current book from the state store (what the shops confirmed, with the engine's verdict of the run
    that wrote it): limit, used, overdue, available, mode, what the shop holds, when it was confirmed. Also the
    customers whose last outcome is rejected, unmatched or unsupported. Reads nothing from the ERP or the shops.
    """
    from .config import load_config
    from .state import StateStore

    language = _lang(lang)
    flt = book_filter(pipeline, blocked, over, changed_since, sort)
    cfg = load_config(config_path, secrets="lazy")
    store = StateStore.open(cfg.state.url, read_only=True)
    try:
        try:
            rows = controller.book(store, flt)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param_hint="--sort") from None
    finally:
        store.close()
    if fmt == "xlsx":
        if not output:
            raise click.UsageError("--format xlsx needs -o FILE.xlsx")
        Path(output).write_bytes(to_xlsx(rows, language))
        click.echo(t("c.count", language, n=len(rows)) + f" → {output}", err=True)
        return
    if fmt == "csv":
        text = to_csv(rows)
    elif fmt == "json":
        text = _json(export_rows(rows))
    elif not rows:
        text = t("c.none", language)
    else:
        header = tuple(t(c, language) for c in COLUMNS)
        text = "\n".join([*text_table([tuple(book_cells(r, language)) for r in rows], header), "",
                          t("c.count", language, n=len(rows))])
    if output:
        Path(output).write_text(text, encoding="utf-8", newline="")
    else:
        click.echo(mask(text))


# --- history -----------------------------------------------------------------------------------------------
def change_text(c: Mapping[str, Any], facts: Mapping[str, Any] | None, lang: Lang) -> str:
    before = value_text(c["old"], lang) if c.get("known_old", True) else "?"
    why = f" ({c['reason']}: {reason_text(c['reason'], facts, lang)})" if c.get("reason") else ""
    return f"{c['field']}: {before} → {value_text(c['new'], lang)}{why}"


def render_history(code: str, rows: Sequence[Mapping[str, Any]], lang: Lang) -> str:
    if not rows:
        return t("h.none", lang, code=code)
    lines = [t("h.title", lang, code=code), ""]
    for r in rows:
        head = (f"{when(r['at'], lang)}  #{r['run_id']:<5} {r['pipeline']}  "
                f"{t('outcome.' + r['outcome'], lang)}")
        facts = r["facts"]
        if facts:
            cur = facts.get("currency", "PLN")
            head += (f"  {t('limit', lang)} {money(facts.get('limit'), cur, lang)}, {t('used', lang)} "
                     f"{money(facts.get('used'), cur, lang)}, {t('available', lang)} "
                     f"{money(facts.get('available'), cur, lang)}")
        lines.append(head)
        if r["reason"]:
            lines.append(f"    {r['reason']}")
        lines += [f"    {change_text(c, facts, lang)}" for c in r["changes"]]
    return mask("\n".join(lines))


@click.command("history")
@CONFIG
@click.argument("code")
@click.option("--pipeline", default=None, help="Only this pipeline.")
@LANG
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def history_command(config_path: str, code: str, pipeline: str | None, lang: str | None, as_json: bool) -> None:
    """Customer CODE's confirmed values over time: what changed (old → new, with the reason), when, in which run,
    and every other outcome the audit trail recorded for them. Newest first."""
    from .config import load_config
    from .state import StateStore

    cfg = load_config(config_path, secrets="lazy")
    store = StateStore.open(cfg.state.url, read_only=True)
    try:
        rows = controller.history(store, code, pipeline)
    finally:
        store.close()
    click.echo(_json(rows) if as_json else render_history(code, rows, _lang(lang)))


def register(cli: click.Group) -> None:
    """Add the controller's commands to the ``tradecredit`` group, with its documented exit codes for errors."""
    from .cli import exit_codes_for_errors  # cli imports this module at its end: import back only when called
    from .console.cli import console_command  # the web console (its web stack is imported only when served)

    for command in (explain_command, customers_command, history_command, console_command):
        if command.callback is not None:
            command.callback = _with_exit_codes(command.callback, exit_codes_for_errors)
        cli.add_command(command)


@dataclass(frozen=True)
class _ClickError:
    error: click.ClickException


def _with_exit_codes(callback: Callable[..., Any], guard: Callable[..., Any]) -> Callable[..., Any]:
    """``guard`` (the CLI's error → exit code mapping) for everything but click's own usage errors (exit 2)."""

    def shielded(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except click.ClickException as exc:
            return _ClickError(exc)

    guarded = guard(shielded)

    @wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        result = guarded(*args, **kwargs)
        if isinstance(result, _ClickError):
            raise result.error
        return result

    return run
