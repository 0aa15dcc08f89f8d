"""The credit controller's questions, as data: why is this customer where they are (``explain``), what is the book
(``book``), how did a customer's values change (``history``), how fresh is each pipeline (``pipelines``).

The CLI (``core.controller_cli``) and the web console (``core.console``) render these same dicts, so both show
the same content in either language. ``explain`` reads one customer from the ERP (``Source.read_codes``) and asks
the shop only for the account match; everything else comes from the state store, opened read-only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from .adapters import Source, Target
from .book import amount, changes, credit_facts, utilisation
from .config import Config
from .engine import PaymentForm, decide_checkout, degrade_mode, effective_credit
from .errors import TradeCreditError
from .i18n import DEFAULT_TIME_ZONE
from .records import CreditRecord, RejectedRow, normalise_code
from .secrets import mask
from .state import StateCache, StateStore

SORT_KEYS = ("code", "name", "pipeline", "limit", "used", "overdue", "available", "utilisation", "confirmed")


@dataclass(frozen=True, slots=True)
class BookFilter:
    """``tradecredit customers`` / the console's customers table filters."""

    pipeline: str | None = None
    blocked: bool = False
    over: Decimal | None = None  # utilisation ≥ this percent
    changed_since: datetime | None = None
    search: str | None = None
    sort: str = "code"  # one of SORT_KEYS, "-" in front: descending


def parse_day(text: str, tz: str = DEFAULT_TIME_ZONE) -> datetime:
    """``2026-12-01`` (or ``01.12.2026``) → midnight of that day in ``tz`` (aware)."""
    text = text.strip()
    try:
        day = date.fromisoformat(text) if "-" in text else datetime.strptime(text, "%d.%m.%Y").date()
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD or DD.MM.YYYY)") from None
    return datetime.combine(day, time(), tzinfo=ZoneInfo(tz))


# --- the book --------------------------------------------------------------------------------------------
def book(store: StateStore, flt: BookFilter = BookFilter()) -> list[dict[str, Any]]:
    """One row per customer a shop confirmed: limit, used, overdue, available, mode, what the shop holds, when
    it was confirmed, plus the customers whose last outcome is rejected/unmatched/unsupported (no values)."""
    rows = []
    for entry in store.book(flt.pipeline):
        facts = (entry["detail"] or {}).get("credit") or {}
        rows.append({
            "pipeline": entry["pipeline"], "target": entry["target"], "code": entry["code"],
            "name": facts.get("name", ""), "currency": facts.get("currency", "PLN"),
            "limit": facts.get("limit"), "credit_limit": facts.get("credit_limit"),
            "limit_state": facts.get("limit_state"), "used": facts.get("used"), "overdue": facts.get("overdue"),
            "overdue_limit": facts.get("overdue_limit"), "available": facts.get("available"),
            "headroom": facts.get("headroom"), "utilisation": _text(utilisation(facts)) if facts else None,
            "mode": facts.get("mode"), "blocked": bool(facts.get("blocked")), "reasons": facts.get("reasons", {}),
            "shop_holds": entry["payload"], "confirmed_at": entry["confirmed_at"], "run_id": entry["run_id"],
            "outcome": "written", "facts": facts,
        })
    held = {(r["pipeline"], normalise_code(r["code"])) for r in rows}
    for o in store.sticky_outcomes(flt.pipeline):
        if (o["pipeline"], o["ident"]) in held or o["code"] is None:
            continue
        rows.append({"pipeline": o["pipeline"], "target": o["target"], "code": o["code"], "name": "",
                     "currency": "PLN", "limit": None, "credit_limit": None, "limit_state": None, "used": None,
                     "overdue": None, "overdue_limit": None, "available": None, "headroom": None,
                     "utilisation": None, "mode": None, "blocked": False, "reasons": {}, "shop_holds": None,
                     "confirmed_at": None, "run_id": o["run_id"], "outcome": o["outcome"], "outcome_reason":
                     o["reason"], "facts": {}})
    return _sorted([r for r in rows if _keep(r, flt)], flt.sort)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _keep(row: Mapping[str, Any], flt: BookFilter) -> bool:
    if flt.blocked and not row["blocked"]:
        return False
    if flt.over is not None:
        used = amount(row["utilisation"])
        if used is None or used < flt.over:
            return False
    if flt.changed_since is not None and (row["confirmed_at"] is None or row["confirmed_at"] < flt.changed_since):
        return False
    if flt.search:
        needle = flt.search.casefold()
        if needle not in row["code"].casefold() and needle not in str(row["name"]).casefold():
            return False
    return True


def _sorted(rows: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORT_KEYS:
        raise ValueError(f"cannot sort by {key!r} (one of: {', '.join(SORT_KEYS)})")
    field = {"confirmed": "confirmed_at"}.get(key, key)

    def value(row: Mapping[str, Any]) -> tuple[int, Any]:
        v = row.get(field)
        if v is None:
            return (1, 0) if not descending else (-1, 0)  # unknown values last either way
        if key in ("limit", "used", "overdue", "available", "utilisation"):
            return (0, Decimal(str(v)))
        if key == "confirmed":
            return (0, v.timestamp())
        return (0, str(v).casefold())

    return sorted(rows, key=value, reverse=descending)


# --- history ---------------------------------------------------------------------------------------------
def history(store: StateStore, code: str, pipeline: str | None = None) -> list[dict[str, Any]]:
    """A customer's audit rows, newest first: when, which run, outcome, old → new with reasons, the verdict."""
    out = []
    for item in store.customer_items(code, pipeline):
        detail = item["detail"] or {}
        out.append({
            "at": item["at"], "run_id": item["run_id"], "pipeline": item["pipeline"], "target": item["target"],
            "outcome": item["outcome"], "reason": item["reason"], "changes": detail.get("changes", []),
            "facts": detail.get("credit") or {}, "reason_code": detail.get("reason_code"),
            "payload": item["payload"],
        })
    return out


def blocked_since(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Since which confirmed write (newest first ``rows``) the customer has been blocked without a break, or None
    when the last confirmed write did not block them."""
    since = None
    for row in rows:
        facts = row.get("facts") or {}
        if row.get("outcome") != "written" or not facts:
            continue
        if not facts.get("blocked"):
            break
        since = {"at": row["at"], "run_id": row["run_id"]}
    return since


def series(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The chart of a customer page: limit / used / available at each confirmed write, oldest first."""
    points = []
    for row in rows:
        facts = row.get("facts") or {}
        if row.get("outcome") != "written" or not facts:
            continue
        points.append({"at": row["at"], "limit": amount(facts.get("limit")), "used": amount(facts.get("used")),
                       "available": amount(facts.get("available"))})
    return sorted(points, key=lambda p: p["at"])


# --- pipelines -------------------------------------------------------------------------------------------
def pipelines(config: Config, store: StateStore, now: datetime | None = None, runs: int = 10) -> list[dict[str, Any]]:
    """Each pipeline with its freshness (the last completed run against ``[engine] max_age``) and its last runs."""
    now = now or datetime.now(UTC)
    out = []
    for p in config.pipelines:
        last = store.last_confirmed(p.name)
        max_age = config.max_age(p)
        age_h = None if last is None else round((now - last).total_seconds() / 3600, 1)
        stale = last is None or (max_age is not None and now - last > max_age)
        out.append({"name": p.name, "source": p.source, "target": p.target, "enabled": p.enabled,
                    "last_confirmed": last, "age_hours": age_h, "stale": stale,
                    "runs": store.history(p.name, runs)})
    return out


# --- explain ---------------------------------------------------------------------------------------------
def explain(
    config: Config, code: str, *, order: Decimal | None = None, pipeline: str | None = None,
    now: datetime | None = None, store: StateStore | None = None,
) -> dict[str, Any]:
    """Everything about one customer: the ERP record, the engine's verdict (and the decision on ``order``), and
    per pipeline what the shop holds (last confirmed), what the next run would send and why.

    Reads the customer from each source once (``Source.read_codes``), asks each target only to match the code.
    """
    from .sync import instantiate  # sync imports this package's siblings; import late to keep startup light

    now = now or datetime.now(UTC)
    policy = config.engine.policy()
    chosen = [config.pipeline(pipeline)] if pipeline else [p for p in config.pipelines if p.enabled]
    own_store = store is None
    store = store or StateStore.open(config.state.url, read_only=True)
    result: dict[str, Any] = {"code": code, "at": now, "sources": {}, "pipelines": []}
    records: dict[str, CreditRecord | None] = {}
    try:
        for p in chosen:
            if p.source not in records:
                records[p.source] = _read_one(instantiate(config.sources[p.source]), code, now, result)
            record = records[p.source]
            result["pipelines"].append(_explain_pipeline(config, store, p.name, p.source, p.target, code, record,
                                                         order, now, policy))
    finally:
        if own_store:
            store.close()
    return result


def _read_one(source: Source[Any], code: str, now: datetime, result: dict[str, Any]) -> CreditRecord | None:
    try:
        items = list(source.read_codes([code], now))
        record = next((i for i in items if isinstance(i, CreditRecord)), None)
        fields = dict(source.describe(record)) if record is not None else {}
    finally:
        source.close()
    rejected = [i.reason for i in items if isinstance(i, RejectedRow)]
    result["sources"][source.name] = {
        "found": record is not None, "rejected": rejected, "fields": fields,
        "record": None if record is None else record.model_dump(mode="json"),
    }
    return record


def _explain_pipeline(
    config: Config, store: StateStore, name: str, source: str, target_name: str, code: str,
    record: CreditRecord | None, order: Decimal | None, now: datetime, policy: Any,
) -> dict[str, Any]:
    from .sync import instantiate

    out: dict[str, Any] = {"pipeline": name, "source": source, "target": target_name}
    entry = next(iter(store.book(name, key=normalise_code(code))), None)
    out["confirmed"] = None if entry is None else {
        "payload": entry["payload"], "at": entry["confirmed_at"], "run_id": entry["run_id"],
        "credit": (entry["detail"] or {}).get("credit")}
    sticky = [o for o in store.sticky_outcomes(name) if o["ident"] == normalise_code(code)]
    out["sticky"] = sticky[0] if sticky else None
    out["blocked_since"] = blocked_since(history(store, code, name))
    if record is None:
        return out
    target: Target[Any] = instantiate(config.targets[target_name],
                                      StateCache(store, f"target:{target_name}", read_only=True), policy)
    try:
        mode = degrade_mode(record.control_mode, target.supported_modes(), target.mode_policy())
        verdict = effective_credit(record, policy, mode=mode.effective)
        out["mode"] = {"requested": mode.requested.value, "effective": mode.effective.value,
                       "degraded": mode.degraded}
        out["facts"] = credit_facts(record, verdict)
        if order is not None:
            decision = decide_checkout(record, order, PaymentForm.TRANSFER, now=now, mode=mode.effective,
                                       policy=policy)
            out["order"] = {"amount": format(order, "f"), "outcome": decision.outcome.value,
                            "reasons": [r.value for r in decision.reasons], "message_pl": decision.message_pl,
                            "message_en": decision.message_en,
                            "available_after": None if decision.available_after is None
                            else format(decision.available_after, "f")}
        why_not = target.unsupported(record)
        if why_not is not None:
            out["unsupported"] = {"reason": mask(why_not.reason), "reason_code": why_not.reason_code.value}
            return out
        try:
            matches = target.match([record.code])
        except TradeCreditError as exc:
            out["match_error"] = mask(exc)
            return out
        if record.code not in matches:
            out["unmatched"] = True
            return out
        try:
            payload = target.payload(record, matches[record.code], mode)
        except ValueError as exc:
            out["payload_error"] = mask(exc)
            return out
        reasons = {k: v.value for k, v in target.value_reasons(record, mode).items()}
        previous = entry["payload"] if entry is not None else None
        out["payload"] = payload
        out["reasons"] = reasons
        out["identity_fields"] = sorted(target.identity_fields)
        out["next_run"] = changes(previous, payload, reasons, target.identity_fields)
        out["unchanged"] = previous == payload
    finally:
        target.close()
    return out
