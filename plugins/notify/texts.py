"""The alerts' words, in Polish and English. Polish texts are written as a Polish credit controller reads them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tradecredit.sdk import format_pln

TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "pl": {
        "failed": ("[tradecredit] {pipeline}: synchronizacja nie powiodła się",
                   "Przebieg #{run_id} potoku {pipeline} ({route}) nie powiódł się ({failures}. z kolei):\n{error}\n\n"
                   "Kolejne nieudane przebiegi nie będą zgłaszane osobno. Damy znać, gdy synchronizacja znów "
                   "zadziała."),
        "recovered": ("[tradecredit] {pipeline}: synchronizacja znów działa",
                      "Przebieg #{run_id} potoku {pipeline} zakończył się ze statusem {status} po {failures} "
                      "nieudanych przebiegach. Sklep ma znów aktualne dane z ERP."),
        "stale": ("[tradecredit] {pipeline}: dane kredytu kupieckiego w sklepie są nieaktualne",
                  "Od {age} nie było potwierdzonej synchronizacji potoku {pipeline} (ostatnia: {last}; dopuszczalny "
                  "wiek danych: {max_age}). Sklep decyduje o zakupach z odroczoną płatnością na podstawie starych "
                  "danych z ERP."),
        "blocked": ("[tradecredit] {pipeline}: nowi klienci z zablokowanym kredytem kupieckim",
                    "Tym klientom sklep odmówi teraz płatności odroczonej ({count}):\n{lines}"),
        "limit": ("[tradecredit] {pipeline}: klienci przekroczyli próg wykorzystania limitu",
                  "Nowe przekroczenia progów wykorzystania limitu kredytowego ({count}):\n{lines}"),
        "digest": ("[tradecredit] dzienne podsumowanie synchronizacji",
                   "Ostatnie 24 godziny:\n{lines}"),
        "never": ("nigdy", ""),
        "line_blocked": ("  {code}: wykorzystano {used} z limitu {limit}{overdue}", ""),
        "line_overdue": (", zaległości {overdue} (limit zaległości {overdue_limit})", ""),
        "line_limit": ("  {code}: wykorzystano {pct} % limitu ({used} z {limit})", ""),
        "line_digest": ("  {pipeline}: przebiegów {runs} (nieudanych {failed}), zapisanych klientów {written}, "
                        "błędów zapisu {write_failed}; ostatnia potwierdzona synchronizacja: {last}", ""),
        "more": ("  … i {n} więcej", ""),
    },
    "en": {
        "failed": ("[tradecredit] {pipeline}: sync failed",
                   "Run #{run_id} of pipeline {pipeline} ({route}) failed (failure {failures} in a row):\n{error}\n\n"
                   "Further failed runs are not reported one by one. You will hear from us when it works again."),
        "recovered": ("[tradecredit] {pipeline}: sync works again",
                      "Run #{run_id} of pipeline {pipeline} ended {status} after {failures} failed run(s). The shop "
                      "has current ERP data again."),
        "stale": ("[tradecredit] {pipeline}: the shop's trade-credit data is stale",
                  "No confirmed sync of pipeline {pipeline} for {age} (last: {last}; max_age {max_age}). The shop "
                  "decides deferred-payment orders on old ERP data."),
        "blocked": ("[tradecredit] {pipeline}: customers newly blocked",
                    "The shop now refuses deferred payment to these customers ({count}):\n{lines}"),
        "limit": ("[tradecredit] {pipeline}: customers crossed a credit-limit threshold",
                  "New threshold crossings ({count}):\n{lines}"),
        "digest": ("[tradecredit] daily sync digest", "The last 24 hours:\n{lines}"),
        "never": ("never", ""),
        "line_blocked": ("  {code}: {used} used of a {limit} limit{overdue}", ""),
        "line_overdue": (", overdue {overdue} (overdue limit {overdue_limit})", ""),
        "line_limit": ("  {code}: {pct} % of the limit used ({used} of {limit})", ""),
        "line_digest": ("  {pipeline}: {runs} run(s) ({failed} failed), {written} customer(s) written, "
                        "{write_failed} failed write(s); last confirmed sync: {last}", ""),
        "more": ("  … and {n} more", ""),
    },
}


def text(language: str, key: str, **values: object) -> tuple[str, str]:
    subject, body = TEXTS[language][key]
    return subject.format(**values), body.format(**values)


def line(language: str, key: str, **values: object) -> str:
    return TEXTS[language][key][0].format(**values)


def money(language: str, amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return "—"
    return format_pln(amount, currency) if language == "pl" else f"{amount:,.2f} {currency}"


def duration(language: str, value: timedelta) -> str:
    hours = value.total_seconds() / 3600
    if hours >= 48:
        return f"{hours / 24:.0f} dni" if language == "pl" else f"{hours / 24:.0f} days"
    if hours >= 1:
        return f"{hours:.1f} h".replace(".", ",") if language == "pl" else f"{hours:.1f} h"
    return f"{value.total_seconds() / 60:.0f} min"
