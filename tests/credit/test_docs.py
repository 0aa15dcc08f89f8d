"""docs/engine.md runs as written, and documents every reason code and [engine] option the code has."""

from __future__ import annotations

import re
from pathlib import Path

from tradecredit.core.config import EngineConfig
from tradecredit.core.engine import LapsedPolicy, NoLimitPolicy, ValueReason
from tradecredit.core.records import LimitState

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_engine_md_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / "engine.md").read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 3
    for block in blocks:
        exec(compile(block, "docs/engine.md", "exec"), {})  # the documentation's own examples


def test_every_reason_state_and_policy_value_is_documented():
    engine = (DOCS / "engine.md").read_text(encoding="utf-8")
    for name in [*ValueReason, *LimitState, *NoLimitPolicy, *LapsedPolicy]:
        assert f"`{name.value}`" in engine, name
    configuration = (DOCS / "configuration.md").read_text(encoding="utf-8")
    for option in EngineConfig.model_fields:
        assert f"engine.{option}" in configuration, option
    changelog = (DOCS / "changelog.md").read_text(encoding="utf-8")
    assert "### Credit correctness (issue 10)" in changelog
