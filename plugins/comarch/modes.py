"""The control-mode labels of Comarch's screens (seed 001), mapped onto the canonical modes."""

from __future__ import annotations

from collections.abc import Mapping

from tradecredit.sdk import ControlMode

OPTIMA_MODE_LABELS: Mapping[str, ControlMode] = {
    "brak": ControlMode.ALLOW,
    "ostrzeżenie": ControlMode.WARN,
    "blokada": ControlMode.BLOCK,
}
XL_MODE_LABELS: Mapping[str, ControlMode] = {
    "Zezwalaj": ControlMode.ALLOW,
    "Ostrzegaj": ControlMode.WARN,
    "Blokuj": ControlMode.BLOCK,
}
MODE_LABELS: Mapping[str, Mapping[str, ControlMode]] = {"optima": OPTIMA_MODE_LABELS, "xl": XL_MODE_LABELS}


def mode_from_label(system: str, label: str) -> ControlMode:
    """Map an ERP's UI label (``blokada``, ``Ostrzegaj`` …) onto the canonical mode; case-insensitive."""
    table = MODE_LABELS[system]
    wanted = label.strip().casefold()
    for text, mode in table.items():
        if text.casefold() == wanted:
            return mode
    raise ValueError(f"{label!r} is not a {system} control mode; expected one of {', '.join(table)}")
