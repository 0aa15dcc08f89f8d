"""The sandbox's read-only HTML page (``GET /``): its clients with limit, balance, what was last written, and the
verdict of the shop's own order rule, so a user can see what the shop now holds after a sync."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradecredit.sdk import format_pln

if TYPE_CHECKING:
    import jinja2

    from .sandbox import ShopClient, ShopStore

PAGE_SIZE = 200


@cache
def _templates() -> jinja2.Environment:
    import jinja2

    return jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)


def _money(value: Decimal | None, currency: str) -> str:
    if value is None:
        return "—"
    return format_pln(value) if currency == "PLN" else f"{value:.2f} {currency}"


@dataclass(frozen=True, slots=True)
class Row:
    login: str
    code: str | None
    firm: str | None
    trade_credit: bool
    limit: str
    balance: str
    pending: str
    modified: str
    verdict: str
    css: str


def verdict(store: ShopStore, client: ShopClient) -> tuple[str, str]:
    """What the shop's credit rule does with a trade-credit order now (the rule ``place_order`` applies)."""
    if not client.trade_credit or client.limit is None:
        return "no trade credit: every trade-credit order is refused", "blocked"
    left = store.available(client)
    if left is None:
        return "no limit: trade-credit orders of any value", "open"
    if left <= 0:
        return f"refuses every trade-credit order (available {_money(left, client.currency)})", "blocked"
    return f"accepts trade-credit orders up to {_money(left, client.currency)}", "open"


def render(store: ShopStore, query: dict[str, str]) -> str:
    q = query.get("q", "").strip()
    try:
        page = max(1, int(query.get("page", "1")))
    except ValueError:
        page = 1
    clients = store.clients()
    if q:
        needle = q.casefold()
        clients = [c for c in clients if needle in c.login.casefold() or needle in (c.code_external or "").casefold()]
    chosen = clients[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    rows = []
    for c in chosen:
        text, css = verdict(store, c)
        rows.append(Row(c.login, c.code_external, c.firm, c.trade_credit, _money(c.limit, c.currency),
                        _money(c.balance, c.currency), _money(store.pending(c.client_id), c.currency),
                        c.modified, text, css))
    context: dict[str, Any] = {
        "rows": rows, "total": len(clients), "shown": len(rows), "q": q, "balance_sign": store.balance_sign,
        "prev_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if page * PAGE_SIZE < len(clients) else None,
    }
    return _templates().get_template("clients.html").render(context)
