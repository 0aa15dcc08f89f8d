"""The message catalog of the credit controller's views (``explain``, ``customers``, ``history``, the web console).

One key, two languages with the same content: Polish (the users' language, amounts ``1 234,56 zł``, dates
``01.12.2026 14:50`` in Europe/Warsaw) and English (``1,234.56 PLN``, ISO dates, the same time zone). The
default language comes from the locale (``LC_ALL``/``LC_MESSAGES``/``LANG``; ``pl…`` → Polish). Reason codes
(``ValueReason``) stay as they are in both languages: they are stable names for scripts; ``reason_text`` says
them in words, with the amounts behind them.
"""

from __future__ import annotations

import locale
import os
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from .money import format_pln, round_money

Lang = Literal["pl", "en"]
LANGS: tuple[Lang, ...] = ("pl", "en")
DEFAULT_TIME_ZONE = "Europe/Warsaw"


def default_lang(environ: Mapping[str, str] | None = None) -> Lang:
    """Polish when the locale says so (``pl_PL.UTF-8``, ``pl``), else English."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name)
        if value:
            return "pl" if value.lower().startswith("pl") else "en"
    if environ is None:
        try:
            current = locale.getlocale()[0] or ""
        except ValueError:
            current = ""
        if current.lower().startswith("pl"):
            return "pl"
    return "en"


def money(value: Decimal | str | None, currency: str = "PLN", lang: Lang = "pl") -> str:
    """``1 234,56 zł`` in Polish, ``1,234.56 PLN`` in English; ``—`` for no amount."""
    if value is None or value == "":
        return "—"
    amount = Decimal(str(value))
    if lang == "pl":
        return format_pln(amount, currency)
    return f"{round_money(amount):,.2f} {currency}"


def when(value: datetime | None, lang: Lang = "pl", tz: str = DEFAULT_TIME_ZONE) -> str:
    """A moment in the controller's time zone: ``01.12.2026 14:50`` (pl), ``2026-12-01 14:50 CET`` (en)."""
    if value is None:
        return "—"
    local = value.astimezone(ZoneInfo(tz))
    return f"{local:%d.%m.%Y %H:%M}" if lang == "pl" else f"{local:%Y-%m-%d %H:%M %Z}"


def percent(value: Decimal | None, lang: Lang = "pl") -> str:
    if value is None:
        return "—"
    text = f"{value:.1f}"
    return (text.replace(".", ",") if lang == "pl" else text) + " %"


CATALOG: dict[str, dict[Lang, str]] = {
    # --- columns and labels ---
    "code": {"pl": "Kod", "en": "Code"},
    "name": {"pl": "Nazwa", "en": "Name"},
    "pipeline": {"pl": "Potok", "en": "Pipeline"},
    "target": {"pl": "Sklep", "en": "Shop"},
    "limit": {"pl": "Limit", "en": "Limit"},
    "erp_limit": {"pl": "Limit w ERP", "en": "ERP limit"},
    "used": {"pl": "Wykorzystany", "en": "Used"},
    "overdue": {"pl": "Zaległości", "en": "Overdue"},
    "overdue_limit": {"pl": "Limit zaległości", "en": "Overdue limit"},
    "available": {"pl": "Dostępny", "en": "Available"},
    "headroom": {"pl": "Największe zamówienie z odroczoną płatnością", "en": "Largest deferred order"},
    "utilisation": {"pl": "Wykorzystanie", "en": "Utilisation"},
    "mode": {"pl": "Tryb kontroli", "en": "Control mode"},
    "blocked": {"pl": "Zablokowany", "en": "Blocked"},
    "shop_holds": {"pl": "Sklep ma", "en": "Shop holds"},
    "confirmed": {"pl": "Potwierdzone", "en": "Confirmed"},
    "run": {"pl": "Przebieg", "en": "Run"},
    "status": {"pl": "Status", "en": "Status"},
    "when": {"pl": "Kiedy", "en": "When"},
    "outcome": {"pl": "Wynik", "en": "Outcome"},
    "changes": {"pl": "Zmiany", "en": "Changes"},
    "reason": {"pl": "Powód", "en": "Reason"},
    "reason_code": {"pl": "Kod powodu", "en": "Reason code"},
    "field": {"pl": "Pole", "en": "Field"},
    "value": {"pl": "Wartość", "en": "Value"},
    "before": {"pl": "Przed", "en": "Before"},
    "after": {"pl": "Po", "en": "After"},
    "yes": {"pl": "tak", "en": "yes"},
    "no": {"pl": "nie", "en": "no"},
    "limit_state": {"pl": "Stan limitu", "en": "Limit state"},
    "currency": {"pl": "Waluta", "en": "Currency"},
    "business": {"pl": "Podmiot gospodarczy", "en": "Business entity"},
    "as_of": {"pl": "Dane z", "en": "Data as of"},
    "duration": {"pl": "Czas trwania", "en": "Duration"},
    "written": {"pl": "Zapisano", "en": "Written"},
    "read": {"pl": "Odczytano", "en": "Read"},
    "failed": {"pl": "Błędy", "en": "Failed"},
    "started": {"pl": "Start", "en": "Started"},
    "freshness": {"pl": "Świeżość danych", "en": "Freshness"},
    "last_success": {"pl": "Ostatnia udana synchronizacja", "en": "Last successful sync"},
    "hours_ago": {"pl": "{hours} godz. temu", "en": "{hours} h ago"},
    "never": {"pl": "nigdy", "en": "never"},
    "stale": {"pl": "nieaktualne", "en": "stale"},
    "fresh": {"pl": "aktualne", "en": "fresh"},
    # --- limit states and modes ---
    "state.none": {"pl": "brak przyznanego limitu", "en": "no limit granted"},
    "state.limited": {"pl": "limit", "en": "limited"},
    "state.lapsed": {"pl": "termin limitu minął", "en": "lapsed"},
    "state.unlimited": {"pl": "nieograniczony", "en": "unlimited"},
    "mode.allow": {"pl": "przepuść (allow)", "en": "allow"},
    "mode.warn": {"pl": "ostrzeż (warn)", "en": "warn"},
    "mode.block": {"pl": "blokuj (block)", "en": "block"},
    "outcome.written": {"pl": "zapisano", "en": "written"},
    "outcome.failed": {"pl": "błąd", "en": "failed"},
    "outcome.rejected": {"pl": "odrzucono", "en": "rejected"},
    "outcome.unmatched": {"pl": "brak konta w sklepie", "en": "no shop account"},
    "outcome.unsupported": {"pl": "nieobsługiwany", "en": "unsupported"},
    "outcome.unchanged": {"pl": "bez zmian", "en": "unchanged"},
    "run.ok": {"pl": "ok", "en": "ok"},
    "run.partial": {"pl": "częściowo", "en": "partial"},
    "run.failed": {"pl": "nieudany", "en": "failed"},
    "run.locked": {"pl": "zablokowany przez inny przebieg", "en": "locked"},
    "run.abandoned": {"pl": "przerwany", "en": "abandoned"},
    "run.running": {"pl": "w toku", "en": "running"},
    "count.read": {"pl": "odczytano", "en": "read"},
    "count.rejected": {"pl": "odrzucono", "en": "rejected"},
    "count.unsupported": {"pl": "nieobsługiwani", "en": "unsupported"},
    "count.unmatched": {"pl": "bez konta w sklepie", "en": "no shop account"},
    "count.unchanged": {"pl": "bez zmian", "en": "unchanged"},
    "count.to_write": {"pl": "do zapisu", "en": "to write"},
    "count.written": {"pl": "zapisano", "en": "written"},
    "count.failed": {"pl": "błędy", "en": "failed"},
    "count.batches": {"pl": "paczki", "en": "batches"},
    "decision.allow": {"pl": "przyjęte", "en": "allowed"},
    "decision.warn": {"pl": "przyjęte z ostrzeżeniem", "en": "allowed with a warning"},
    "decision.block": {"pl": "odrzucone", "en": "refused"},
    # --- reasons in words ({…} are amounts of the facts) ---
    "why.from_erp": {"pl": "z ERP", "en": "from the ERP"},
    "why.unlimited": {"pl": "bez reguły limitu: limit nieograniczony w ERP",
                      "en": "no limit rule: unlimited in the ERP"},
    "why.no_limit_granted": {"pl": "bez reguły limitu: brak przyznanego limitu ([engine] no_limit = unrestricted)",
                             "en": "no limit rule: no limit granted ([engine] no_limit = unrestricted)"},
    "why.zero_no_limit": {"pl": "limit 0: brak przyznanego limitu ([engine] no_limit = no_credit)",
                          "en": "limit 0: no limit granted ([engine] no_limit = no_credit)"},
    "why.zero_because_lapsed": {"pl": "limit 0: termin limitu minął ([engine] lapsed_limit = zero)",
                                "en": "limit 0: the dated limit lapsed ([engine] lapsed_limit = zero)"},
    "why.lapsed_as_no_limit": {"pl": "termin limitu minął, traktowany jak brak limitu ([engine] lapsed_limit = "
                                     "no_limit)",
                               "en": "the dated limit lapsed, treated as no limit granted ([engine] lapsed_limit = "
                                     "no_limit)"},
    "why.blocked_by_overdue": {"pl": "brak kredytu kupieckiego: zaległości {overdue} > limit zaległości "
                                     "{overdue_limit}",
                               "en": "no deferred credit: overdue {overdue} > overdue limit {overdue_limit}"},
    "why.mode_allow_no_cap": {"pl": "bez ograniczenia: tryb {mode} przepuszcza zamówienia ponad limit",
                              "en": "no cap: mode {mode} lets orders over the limit through"},
    "why.not_business": {"pl": "klient prywatny: limity dotyczą tylko podmiotów gospodarczych",
                         "en": "a private customer: limits apply to business entities only"},
    "why.unsupported_currency": {"pl": "waluta {currency}: sklep nie może jej obsłużyć",
                                 "en": "currency {currency}: the shop cannot represent it"},
    # --- explain ---
    "x.title": {"pl": "Klient {code}", "en": "Customer {code}"},
    "x.not_found": {"pl": "Klienta {code} nie ma w ERP ({source})",
                    "en": "Customer {code} is not in the ERP ({source})"},
    "x.rejected": {"pl": "ERP: wiersz odrzucony: {reason}", "en": "ERP: row rejected: {reason}"},
    "x.erp": {"pl": "Dane z ERP ({source}, stan na {as_of})", "en": "ERP data ({source}, as of {as_of})"},
    "x.extra": {"pl": "Szczegóły źródła", "en": "Source details"},
    "x.fields": {"pl": "Pola ERP", "en": "ERP fields"},
    "x.valid": {"pl": "Ważny", "en": "Valid"},
    "x.payer": {"pl": "Płatnik", "en": "Payer"},
    "x.verdict": {"pl": "Decyzja silnika", "en": "The engine's verdict"},
    "x.overdue_rule": {"pl": "Reguła zaległości", "en": "Overdue rule"},
    "x.overdue_breached": {"pl": "przekroczona: zaległości {overdue} > {overdue_limit}",
                           "en": "breached: overdue {overdue} > {overdue_limit}"},
    "x.overdue_ok": {"pl": "nieprzekroczona", "en": "not breached"},
    "x.overdue_none": {"pl": "brak reguły (brak limitu zaległości)", "en": "no rule (no overdue limit)"},
    "x.no_cap": {"pl": "bez ograniczenia", "en": "no cap"},
    "x.order": {"pl": "Zamówienie {amount} z odroczoną płatnością (Przelew)",
                "en": "A deferred order (bank transfer) of {amount}"},
    "x.message": {"pl": "Komunikat dla klienta", "en": "Customer's message"},
    "x.target": {"pl": "Sklep {target} (potok {pipeline}, tryb {mode})",
                 "en": "Shop {target} (pipeline {pipeline}, mode {mode})"},
    "x.degraded": {"pl": "tryb {requested} niedostępny w sklepie, wymuszany jako {effective}",
                   "en": "mode {requested} not supported by the shop, enforced as {effective}"},
    "x.payload": {"pl": "Co wyśle następny przebieg", "en": "What the next run would send"},
    "x.last_confirmed": {"pl": "Ostatnio potwierdzone przez sklep: {when} (przebieg #{run})",
                         "en": "Last confirmed by the shop: {when} (run #{run})"},
    "x.blocked_since": {"pl": "Zamówienia z odroczoną płatnością zablokowane od {when} (przebieg #{run})",
                        "en": "Deferred orders blocked since {when} (run #{run})"},
    "x.never_confirmed": {"pl": "Sklep jeszcze niczego nie potwierdził", "en": "The shop has confirmed nothing yet"},
    "x.unchanged": {"pl": "Następny przebieg nic nie wyśle: sklep ma już te wartości",
                    "en": "The next run sends nothing: the shop holds these values already"},
    "x.will_send": {"pl": "Następny przebieg wyśle {n} zmian(y)", "en": "The next run sends {n} change(s)"},
    "x.unsupported": {"pl": "Sklep nie obsłuży klienta: {reason}", "en": "The shop cannot represent the customer: "
                      "{reason}"},
    "x.unmatched": {"pl": "Brak konta w sklepie o tym kodzie", "en": "No shop account with this code"},
    "x.match_failed": {"pl": "Nie udało się sprawdzić konta w sklepie: {error}",
                       "en": "Could not look the account up in the shop: {error}"},
    "x.sticky": {"pl": "Ostatni zapisany wynik: {outcome} od {since} (przebieg #{run}): {reason}",
                 "en": "Last recorded outcome: {outcome} since {since} (run #{run}): {reason}"},
    "x.rejected_payload": {"pl": "Sklep nie przyjmie danych: {reason}", "en": "The shop would not take it: {reason}"},
    # --- customers / history ---
    "c.none": {"pl": "Brak klientów spełniających warunki", "en": "No customer matches"},
    "c.count": {"pl": "{n} klient(ów)", "en": "{n} customer(s)"},
    "h.none": {"pl": "Brak historii klienta {code}", "en": "No history for customer {code}"},
    "h.title": {"pl": "Historia klienta {code}", "en": "History of customer {code}"},
    "unknown": {"pl": "?", "en": "?"},
    # --- the web console ---
    "console.title": {"pl": "Konsola kredytu kupieckiego", "en": "Trade credit console"},
    "console.pipelines": {"pl": "Potoki", "en": "Pipelines"},
    "console.customers": {"pl": "Klienci", "en": "Customers"},
    "console.logout": {"pl": "Wyloguj", "en": "Log out"},
    "console.footer": {"pl": "tradecredit · konsola tylko do odczytu: niczego nie zmienia w ERP ani w sklepach",
                       "en": "tradecredit · a read-only console: it changes nothing in the ERP or the shops"},
    "console.login": {"pl": "Logowanie", "en": "Log in"},
    "console.login_failed": {"pl": "Nieprawidłowe hasło", "en": "Wrong password"},
    "console.password": {"pl": "Hasło", "en": "Password"},
    "console.sign_in": {"pl": "Zaloguj", "en": "Log in"},
    "console.login_hint": {"pl": "Hasło ustawia administrator w sekcji [console] konfiguracji.",
                           "en": "The administrator sets the password in the [console] section of the config."},
    "console.last_runs": {"pl": "Ostatnie przebiegi", "en": "Last runs"},
    "console.disabled": {"pl": "wyłączony", "en": "disabled"},
    "console.runs": {"pl": "Przebiegi", "en": "Runs"},
    "console.runs_chart": {"pl": "Czas trwania przebiegów (słupki, s) i liczba zapisanych klientów (linia)",
                           "en": "Run durations (bars, s) and customers written (line)"},
    "console.all": {"pl": "wszystkie", "en": "all"},
    "console.no_items": {"pl": "Brak pozycji", "en": "No items"},
    "console.not_repeated": {"pl": "… oraz {n} klient(ów) z wynikiem „{outcome}” zapisanym już wcześniej",
                             "en": "… and {n} {outcome} customer(s) already recorded in an earlier run"},
    "console.search": {"pl": "Szukaj", "en": "Search"},
    "console.only_blocked": {"pl": "tylko zablokowani", "en": "blocked only"},
    "console.over": {"pl": "wykorzystanie od", "en": "utilisation from"},
    "console.changed_since": {"pl": "zmienieni od", "en": "changed since"},
    "console.sort": {"pl": "sortuj", "en": "sort"},
    "console.apply": {"pl": "Filtruj", "en": "Filter"},
    "console.export": {"pl": "Eksport", "en": "Export"},
    "console.order_amount": {"pl": "Kwota zamówienia (brutto)", "en": "Order amount (gross)"},
    "console.check": {"pl": "Sprawdź", "en": "Check"},
    "x.next": {"pl": "Następny przebieg", "en": "Next run"},
}


def t(key: str, lang: Lang = "pl", **values: Any) -> str:
    """The text of ``key`` in ``lang`` with ``values`` filled in (an unknown key is shown as itself)."""
    entry = CATALOG.get(key)
    text = entry[lang] if entry else key
    return text.format(**values) if values else text


def reason_text(code: str | None, facts: Mapping[str, Any] | None, lang: Lang = "pl") -> str:
    """A reason code in words with the amounts of ``facts`` (``credit_facts``): "no deferred credit: overdue …"."""
    if not code:
        return ""
    f = facts or {}
    currency = str(f.get("currency") or "PLN")
    key = f"why.{code}"
    if key not in CATALOG:
        return code
    return t(key, lang, overdue=money(f.get("overdue"), currency, lang),
             overdue_limit=money(f.get("overdue_limit"), currency, lang),
             mode=t(f"mode.{f.get('mode', 'allow')}", lang), currency=currency)


def value_text(value: Any, lang: Lang = "pl") -> str:
    """A payload value as shown: amounts the language's way only when the value is clearly an amount string."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return t("yes" if value else "no", lang)
    if isinstance(value, str) and lang == "pl":
        try:
            number = Decimal(value)
        except ArithmeticError:
            return value
        if number.as_tuple().exponent == -2:  # a money string such as "2300.00"
            return money(number, "PLN", lang).removesuffix("\xa0zł")
    return str(value)
