"""Fails at import time, like a plugin built against a missing dependency."""

import tc_this_module_does_not_exist  # noqa: F401
