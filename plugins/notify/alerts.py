"""When to alert: one alert per episode, kept in the state store so a restart does not repeat or forget one.

* ``failed``: ``failures_before_alert`` consecutive failed runs of a pipeline open an episode (one alert);
  ``recovered``: the first completed run after an alerted episode closes it (one alert).
* ``stale``: no confirmed sync for longer than the pipeline's max_age, checked at every failed run and every
  run refused by a live lease (a hung holder); one alert per episode; the next completed run closes it.
* ``blocked`` / ``limit``: from the customers the shop confirmed in this run (``after_batch`` records), so
  each crossing is announced once: a customer's level (under 80 %, ≥ 80 %, ≥ 100 %, blocked) is kept per
  pipeline, an alert goes out when the level rises, and a lower level is remembered silently (so a later
  crossing is news again). The first run of a pipeline only records the levels: installing tradecredit does
  not announce every customer already over the limit.
* ``digest``: the first run after ``digest_at`` each day sends a summary of the last 24 hours.

A delivery that failed on every channel is retried at the next run (the episode stays unannounced).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tradecredit.sdk import (
    ControlMode,
    CreditRecord,
    LimitState,
    LockHeldError,
    StateStore,
    StopRequested,
    available,
    overdue_breached,
)

from . import texts
from .channels import deliver
from .options import NotifyOptions

log = logging.getLogger(__name__)

SECTION = "notify"
LEVEL_NAMES = {0: "ok", 80: "80", 100: "100", 200: "blocked"}
MAX_LINES = 20
_guard = threading.Lock()
_pending: dict[int, dict[str, CreditRecord]] = defaultdict(dict)  # run id → confirmed customers of this run


def level_of(record: CreditRecord) -> int:
    """0 (under 80 %), 80, 100 (limit used up or over) or 200 (checkout refuses deferred payment)."""
    left = available(record)
    if record.control_mode is ControlMode.BLOCK and ((left is not None and left <= 0) or overdue_breached(record)):
        return 200
    if record.limit_state is LimitState.LIMITED and record.credit_limit and record.credit_limit > 0:
        used = record.used / record.credit_limit * 100
        return 100 if used >= 100 else 80 if used >= 80 else 0
    return 0


def options_of(run: Any) -> NotifyOptions | None:
    config = getattr(run, "config", None)
    options = config.sections.get(SECTION) if config is not None else None
    return options if isinstance(options, NotifyOptions) else None


class Notifier:
    def __init__(self, run: Any, options: NotifyOptions) -> None:
        self.run, self.options = run, options
        self.lang = options.language
        self.namespace = f"notify:{run.pipeline}"

    # --- persistence -------------------------------------------------------------------------------------
    def _open(self) -> StateStore:
        return StateStore.open(self.run.config.state.url)

    def _state(self, store: StateStore) -> dict[str, Any]:
        return dict(store.cache_get(self.namespace, ["episode"]).get("episode") or {})

    def _save(self, store: StateStore, state: dict[str, Any]) -> None:
        store.cache_put(self.namespace, {"episode": state})

    def _send(self, event: str, key: str, fields: dict[str, Any], **values: Any) -> bool:
        if event not in self.options.events:
            return True  # not wanted: counts as handled
        subject, body = texts.text(self.lang, key, **values)
        failures = deliver(self.options, subject, body, {"event": event, "pipeline": self.run.pipeline, **fields})
        channels = int(self.options.webhook is not None) + int(self.options.smtp is not None)
        for failure in failures:
            log.warning("alert %s for pipeline %s not delivered: %s", event, self.run.pipeline, failure)
        return len(failures) < channels

    # --- events ------------------------------------------------------------------------------------------
    def failed(self, error: BaseException) -> None:
        report = getattr(error, "report", None)
        with _guard:
            store = self._open()
            try:
                state = self._state(store)
                state["failures"] = int(state.get("failures", 0)) + 1
                if state["failures"] >= self.options.failures_before_alert and not state.get("failed_sent"):
                    state["failed_sent"] = self._send(
                        "failed", "failed", {"run_id": self.run.run_id, "error": getattr(report, "error", None)},
                        pipeline=self.run.pipeline, run_id=self.run.run_id or "-", failures=state["failures"],
                        route=f"{self.run.source} → {self.run.target}",
                        error=getattr(report, "error", None) or f"{type(error).__name__}: {error}",
                    )
                self._stale(store, state)
                self._save(store, state)
                self._digest(store)
            finally:
                store.close()

    def still_locked(self) -> None:
        with _guard:
            store = self._open()
            try:
                state = self._state(store)
                self._stale(store, state)
                self._save(store, state)
            finally:
                store.close()

    def _stale(self, store: StateStore, state: dict[str, Any]) -> None:
        config = self.run.config
        max_age = config.max_age(config.pipeline(self.run.pipeline))
        if max_age is None or state.get("stale_sent"):
            return
        last = store.last_confirmed(self.run.pipeline)
        since = last or _aware(state.get("first_failure")) or datetime.now(UTC)
        state.setdefault("first_failure", datetime.now(UTC).isoformat())
        age = datetime.now(UTC) - since
        if age <= max_age:
            return
        state["stale_sent"] = self._send(
            "stale", "stale", {"last_confirmed": last.isoformat() if last else None,
                               "max_age_s": max_age.total_seconds()},
            pipeline=self.run.pipeline, age=texts.duration(self.lang, age), max_age=texts.duration(self.lang, max_age),
            last=self._when(last),
        )

    def completed(self, report: Any) -> None:
        with _guard:
            store = self._open()
            try:
                state = self._state(store)
                if state.get("failed_sent") or state.get("stale_sent"):
                    sent = self._send("recovered", "recovered", {"run_id": report.run_id, "status": report.status},
                                      pipeline=self.run.pipeline, run_id=report.run_id, status=report.status,
                                      failures=state.get("failures", 0))
                    if not sent:
                        return  # keep the episode open: the next run tries to announce the recovery again
                self._save(store, {})
                self._crossings(store, _pending.pop(report.run_id, {}))
                self._digest(store)
            finally:
                store.close()

    def _crossings(self, store: StateStore, records: dict[str, CreditRecord]) -> None:
        namespace = f"notify-levels:{self.run.pipeline}"
        baseline = store.cache_get(namespace, ["__baseline__"])
        known = store.cache_get(namespace, list(records)) if records else {}
        new_levels = {key: level_of(r) for key, r in records.items()}
        if not baseline:
            store.cache_put(namespace, {**new_levels, "__baseline__": True})  # first run: record, announce nothing
            return
        blocked: list[CreditRecord] = []
        over: list[CreditRecord] = []
        for key, level in new_levels.items():
            if level > int(known.get(key, 0)):
                (blocked if level == 200 else over).append(records[key])
        changed = {k: v for k, v in new_levels.items() if known.get(k) != v}
        ok = True
        if blocked:
            ok &= self._send("blocked", "blocked", {"customers": [r.code for r in blocked]},
                             pipeline=self.run.pipeline, count=len(blocked), lines=self._lines(blocked, "line_blocked"))
        if over:
            ok &= self._send("limit", "limit", {"customers": [r.code for r in over]},
                             pipeline=self.run.pipeline, count=len(over), lines=self._lines(over, "line_limit"))
        if ok and changed:
            store.cache_put(namespace, changed)

    def _lines(self, records: list[CreditRecord], key: str) -> str:
        out = []
        for r in sorted(records, key=lambda r: r.code)[:MAX_LINES]:
            pct = (r.used / r.credit_limit * 100) if r.credit_limit else None
            overdue = ""
            if key == "line_blocked" and overdue_breached(r):
                overdue = texts.line(self.lang, "line_overdue", overdue=texts.money(self.lang, r.overdue, r.currency),
                                     overdue_limit=texts.money(self.lang, r.overdue_limit, r.currency))
            out.append(texts.line(self.lang, key, code=r.code, pct=f"{pct:.0f}" if pct is not None else "—",
                                  used=texts.money(self.lang, r.used, r.currency),
                                  limit=texts.money(self.lang, r.credit_limit, r.currency), overdue=overdue))
        if len(records) > MAX_LINES:
            out.append(texts.line(self.lang, "more", n=len(records) - MAX_LINES))
        return "\n".join(out)

    def _digest(self, store: StateStore) -> None:
        if "digest" not in self.options.events or self.options.digest_at is None:
            return
        zone = ZoneInfo(self.options.time_zone)
        local = datetime.now(zone)
        if local.time() < self.options.digest_at:
            return
        today = local.date().isoformat()
        if store.cache_get("notify:digest", ["sent"]).get("sent") == today:
            return
        since = datetime.now(UTC) - timedelta(hours=24)
        lines = []
        for p in self.run.config.pipelines:
            rows = [r for r in store.history(p.name, limit=10000) if r["started_at"] and r["started_at"] >= since]
            lines.append(texts.line(
                self.lang, "line_digest", pipeline=p.name, runs=len(rows),
                failed=sum(r["status"] in ("failed", "abandoned") for r in rows),
                written=sum(r["counts"].get("written", 0) for r in rows),
                write_failed=sum(r["counts"].get("failed", 0) for r in rows),
                last=self._when(store.last_confirmed(p.name)),
            ))
        if self._send("digest", "digest", {"date": today}, lines="\n".join(lines)):
            store.cache_put("notify:digest", {"sent": today})

    def _when(self, moment: datetime | None) -> str:
        if moment is None:
            return texts.line(self.lang, "never")
        return f"{moment.astimezone(ZoneInfo(self.options.time_zone)):%Y-%m-%d %H:%M}"


def _aware(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def on_batch(run: Any, batch: Any) -> None:
    if run.run_id is not None and not run.dry_run and options_of(run) is not None:
        _pending[run.run_id].update(getattr(batch, "records", {}) or {})


def on_run(run: Any, report: Any) -> None:
    options = options_of(run)
    if options is None or run.dry_run or run.run_id is None:
        _pending.pop(run.run_id, None)
        return
    Notifier(run, options).completed(report)


def on_failure(run: Any, error: BaseException) -> None:
    _pending.pop(run.run_id, None)
    options = options_of(run)
    # A service stop is not a failure; a held lease means another run is working, but if that run never
    # completes the data goes stale all the same, so the stale check still runs.
    if options is None or run.dry_run or isinstance(error, StopRequested) or run.source is None:
        return
    if isinstance(error, LockHeldError):
        Notifier(run, options).still_locked()
        return
    Notifier(run, options).failed(error)
