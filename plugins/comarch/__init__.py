"""What the two Comarch ERP plugins (``optima``, ``xl``) share, kept out of core: core knows no ERP.

Not a plugin (it registers nothing and has no entry point): a plugin-side package that ``optima`` and ``xl``
import. ``modes`` holds the control-mode labels of both ERPs' screens, ``cdn`` the ``CDN`` schema both use on
SQL Server (and how it maps on SQLite and PostgreSQL), ``demo_db`` the fast loading of their demo databases.
"""

from __future__ import annotations

from .cdn import ERP_SCHEMA, create_erp_tables, expected_tables, not_checked, schema_map, streaming
from .demo_db import bulk_insert, refresh_statistics
from .modes import MODE_LABELS, OPTIMA_MODE_LABELS, XL_MODE_LABELS, mode_from_label

__all__ = [
    "ERP_SCHEMA",
    "MODE_LABELS",
    "OPTIMA_MODE_LABELS",
    "XL_MODE_LABELS",
    "bulk_insert",
    "create_erp_tables",
    "expected_tables",
    "mode_from_label",
    "not_checked",
    "refresh_statistics",
    "schema_map",
    "streaming",
]
