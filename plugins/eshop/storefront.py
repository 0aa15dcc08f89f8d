"""The Python API of the B2B storefront: start it, flip the admin switch, look at orders.

    from tradecredit.plugins.eshop import start_storefront

    with start_storefront(limits_enabled=True) as shop:
        print(shop.url)                      # http://127.0.0.1:PORT
        shop.target_options()                # {"plugin": "eshop", "base_url": ..., "api_key": ...}
        shop.orders()                        # orders placed in the storefront

``tradecredit demo`` and the tests use it; ``tradecredit sandbox eshop`` serves the same app in the foreground.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from tradecredit.sdk import CreditPolicy, PaymentForm, RunningServer, StaleFallback, StalePolicy, serve_in_thread

from .app import FeedFaults, create_app
from .store import CheckoutResult, Customer, Order, StorefrontStore


@dataclass
class Storefront:
    """A storefront over one SQLite file, not yet serving. ``app`` is the ASGI application."""

    store: StorefrontStore
    api_key: str
    faults: FeedFaults = field(default_factory=FeedFaults)
    admin_password: str | None = None  # protects /admin with a login (None: the open demo admin page)

    def __post_init__(self) -> None:
        self.app = create_app(self.store, self.api_key, faults=self.faults, admin_password=self.admin_password)

    @property
    def default_policy(self) -> CreditPolicy:
        """The policy of customers whose feed item carries none (feed version 1); version-2 items bring the
        config's ``[engine]`` policy with them."""
        return self.store.default_policy

    # --- the admin switch and the data ---------------------------------------------------------------------
    @property
    def limits_enabled(self) -> bool:
        return self.store.limits_enabled()

    def set_limits_enabled(self, enabled: bool) -> None:
        """The admin switch "Limity kredytu i płatności" (off: nothing shown, nothing enforced)."""
        self.store.set_limits_enabled(enabled)

    def customers(self) -> list[Customer]:
        return self.store.customers()

    def customer(self, code: str) -> Customer | None:
        return self.store.customer(code)

    def orders(self, code: str | None = None) -> list[Order]:
        """Orders placed in the storefront (all, or one customer's), oldest first."""
        return self.store.orders(code)

    def book_orders(self, code: str | None = None) -> int:
        """Mark unbooked orders as booked by the ERP (they stop counting as pending); returns how many."""
        return self.store.book_orders(code)

    def place_order(
        self, code: str, lines: dict[str, int], payment_form: PaymentForm | str = PaymentForm.TRANSFER
    ) -> CheckoutResult:
        """Check out as the customer would (same engine, same admin switch); ``.order`` is None when refused.

        ``lines`` maps product ids (``papier``, ``toner``, ``krzeslo``, ``laptop``, ``serwer``) to quantities.
        """
        return self.store.checkout(code, lines, PaymentForm(payment_form))

    def inject_feed_failures(self, count: int, status: int = 503, retry_after: str | None = "0") -> None:
        """Answer the next ``count`` feed requests with ``status`` (for testing retries)."""
        self.faults.add(count, status, retry_after)


@dataclass
class RunningStorefront(Storefront):
    """A storefront serving on loopback in a background thread. ``stop()`` (or ``with``) shuts it down."""

    server: RunningServer | None = None
    _tempdir: Path | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def target_options(self) -> dict[str, Any]:
        """The ``[targets.<name>]`` table that points the ``eshop`` target at this storefront."""
        return {"plugin": "eshop", "base_url": self.url, "api_key": self.api_key}

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.store.close()
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    def __enter__(self) -> RunningStorefront:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stale_policy(max_age_hours: float | None = 24, fallback: str = "decide") -> StalePolicy:
    return StalePolicy(
        max_age=None if max_age_hours is None else timedelta(hours=max_age_hours),
        fallback=StaleFallback(fallback),
    )


def _default(policy: StalePolicy | CreditPolicy | None) -> CreditPolicy:
    if isinstance(policy, StalePolicy):
        return CreditPolicy(stale=policy)
    return policy or CreditPolicy()


def _parts(
    db: str | Path, api_key: str | None, limits_enabled: bool | None, policy: StalePolicy | CreditPolicy | None
) -> dict[str, Any]:
    store = StorefrontStore(db, default_policy=_default(policy))
    if limits_enabled is not None:
        store.set_limits_enabled(limits_enabled)
    return {"store": store, "api_key": store.api_key(api_key)}


def open_storefront(
    db: str | Path,
    *,
    api_key: str | None = None,
    limits_enabled: bool | None = None,
    policy: StalePolicy | CreditPolicy | None = None,
    admin_password: str | None = None,
) -> Storefront:
    """A storefront over the SQLite file ``db`` (created when missing).

    ``api_key`` None: the key stored in ``db``, or a new random one stored there (so a restart keeps it).
    ``policy``: for customers whose feed item carries no policy (feed version 1); the target sends the config's.
    """
    return Storefront(**_parts(db, api_key, limits_enabled, policy), admin_password=admin_password)


def start_storefront(
    db: str | Path | None = None,
    *,
    api_key: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    limits_enabled: bool | None = None,
    policy: StalePolicy | CreditPolicy | None = None,
    admin_password: str | None = None,
) -> RunningStorefront:
    """Serve a storefront in a background thread on ``host:port`` (0: a free port).

    ``db`` None keeps the state in a temporary directory removed by ``stop()``. ``limits_enabled`` sets the
    admin switch (None: keep what the database has; a new database starts with the switch off).
    ``admin_password`` puts ``/admin`` behind a login (the demo passes the console's password).
    """
    tempdir = Path(tempfile.mkdtemp(prefix="tradecredit-eshop-")) if db is None else None
    path = tempdir / "eshop.db" if tempdir is not None else Path(str(db))
    running = RunningStorefront(**_parts(path, api_key, limits_enabled, policy), _tempdir=tempdir,
                                admin_password=admin_password)
    try:
        running.server = serve_in_thread(running.app, host=host, port=port)
    except BaseException:
        running.stop()
        raise
    return running
