"""The message catalog: both languages complete, Polish amounts and Warsaw time, the locale's default."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tradecredit.core.engine import ValueReason
from tradecredit.core.i18n import CATALOG, LANGS, default_lang, money, reason_text, t, when
from tradecredit.core.report import Counts


def test_every_message_exists_in_both_languages_and_every_reason_code_has_words():
    for key, texts in CATALOG.items():
        assert set(texts) == set(LANGS) and all(texts.values()), key
        assert texts["pl"].count("{") == texts["en"].count("{"), key  # the same placeholders, the same content
    for reason in ValueReason:
        assert f"why.{reason.value}" in CATALOG, reason
    for count in Counts.model_fields:  # the console's run page names every count
        assert f"count.{count}" in CATALOG, count
    for status in ("ok", "partial", "failed", "locked", "abandoned", "running"):  # tc_runs.status
        assert f"run.{status}" in CATALOG, status


def test_polish_amounts_and_times_and_english_ones():
    assert money(Decimal("1234.56"), "PLN", "pl") == "1\u00a0234,56\u00a0zł"
    assert money(Decimal("1234.56"), "PLN", "en") == "1,234.56 PLN"
    assert money(None, "PLN", "pl") == "—"
    winter, summer = datetime(2026, 12, 1, 13, 50, tzinfo=UTC), datetime(2026, 7, 1, 13, 50, tzinfo=UTC)
    assert when(winter, "pl") == "01.12.2026 14:50" and when(summer, "pl") == "01.07.2026 15:50"
    assert when(winter, "en") == "2026-12-01 14:50 CET"
    facts = {"overdue": "367.16", "overdue_limit": "0.00", "currency": "PLN"}
    assert reason_text("blocked_by_overdue", facts, "pl") == (
        "brak kredytu kupieckiego: zaległości 367,16\u00a0zł > limit zaległości 0,00\u00a0zł")
    assert reason_text("a_code_of_a_newer_release", facts, "en") == "a_code_of_a_newer_release"
    assert t("c.count", "pl", n=3) == "3 klient(ów)"


def test_the_default_language_follows_the_locale():
    assert default_lang({"LANG": "pl_PL.UTF-8"}) == "pl"
    assert default_lang({"LC_ALL": "en_US.UTF-8", "LANG": "pl_PL.UTF-8"}) == "en"  # LC_ALL wins
    assert default_lang({"LC_MESSAGES": "pl", "LANG": "C"}) == "pl"
    assert default_lang({}) == "en"
