"""The control-mode labels of Comarch's screens (seed 001): plugin-side knowledge, not core's."""

from __future__ import annotations

import pytest
from tradecredit.plugins.comarch import mode_from_label
from tradecredit.sdk import ControlMode


def test_seed_001_mode_tables():
    assert [mode_from_label("optima", x) for x in ("brak", "ostrzeżenie", "blokada")] == list(ControlMode)
    assert [mode_from_label("xl", x) for x in ("Zezwalaj", "Ostrzegaj", "Blokuj")] == list(ControlMode)
    assert mode_from_label("optima", "BLOKADA") is ControlMode.BLOCK
    with pytest.raises(ValueError, match="not a xl control mode"):
        mode_from_label("xl", "blokada")
