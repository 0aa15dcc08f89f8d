"""The configuration file: TOML, validated in one go, every problem reported with its dotted path.

Secrets are written inline, or as ``{ env = "NAME" }`` / ``{ file = "path" }``; every resolved secret (and
every password inside a database URL) is registered for masking before anything can print it.
"""

from __future__ import annotations

import os
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Generic
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from sqlalchemy.engine import make_url

from .adapters import AdapterT, PluginOptions, Registered, Source, Target
from .engine import CreditPolicy, LapsedPolicy, NoLimitPolicy, StaleFallback, StalePolicy
from .errors import ConfigError
from .secrets import mask, register_secret

DEFAULT_STATE_URL = "sqlite:///tradecredit-state.db"


def _resolve_reference(value: Any) -> Any:
    """``{env = NAME}`` → the variable's value, ``{file = PATH}`` → the file's text; other values unchanged."""
    if isinstance(value, dict):
        keys = set(value)
        if keys == {"env"}:
            name = str(value["env"])
            if name not in os.environ:
                raise ValueError(f"environment variable {name} is not set")
            return os.environ[name]
        if keys == {"file"}:
            path = Path(str(value["file"])).expanduser()
            try:
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
        raise ValueError("a secret is a string, { env = \"NAME\" } or { file = \"path\" }")
    return value


def _secret(value: Any) -> Any:
    value = _resolve_reference(value)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str):
        register_secret(value)
    return value


def _database_url(value: Any) -> Any:
    value = _resolve_reference(value)
    if not isinstance(value, str):
        return value
    try:
        url = make_url(value)
    except Exception:  # noqa: BLE001 - reported by the validator below with the masked text
        raise ValueError(f"{mask(value)!r} is not a database URL (dialect+driver://user:password@host/db)") from None
    if url.password:
        register_secret(str(url.password))
    odbc = url.query.get("odbc_connect")
    if isinstance(odbc, str):
        for part in odbc.split(";"):
            key, _, val = part.partition("=")
            if key.strip().lower() in {"pwd", "password"}:
                register_secret(val.strip().strip("{}"))
    return value


def _time_zone(value: Any) -> Any:
    if isinstance(value, str):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (on Windows: pip install tzdata)") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(_time_zone)]
"""An IANA time-zone name (``Europe/Warsaw``), checked against the system's (or tzdata's) database."""

Secret = Annotated[SecretStr, BeforeValidator(_secret)]
"""A secret option: inline, ``{ env = "NAME" }`` or ``{ file = "path" }``; masked everywhere."""

DatabaseUrl = Annotated[str, BeforeValidator(_database_url)]
"""A SQLAlchemy URL (may be an env/file reference); its password is masked everywhere."""


class StateConfig(PluginOptions):
    url: DatabaseUrl = Field(DEFAULT_STATE_URL, description="SQLAlchemy URL of the state store")
    lock_timeout: timedelta = Field(
        timedelta(hours=6), description="a run lock older than this is considered abandoned and taken over"
    )


class EngineConfig(PluginOptions):
    """``[engine]``: the configurable part of the credit rules, the same for every target (docs/engine.md)."""

    max_age: timedelta | None = Field(timedelta(hours=24), description="ERP data older than this is stale")
    stale_fallback: StaleFallback = Field(StaleFallback.DECIDE, description="what a decision on stale data does")
    no_limit: NoLimitPolicy = Field(
        NoLimitPolicy.UNRESTRICTED,
        description="no limit granted: unrestricted (the limit rule does not apply) or no_credit (a limit of 0)",
    )
    lapsed_limit: LapsedPolicy = Field(
        LapsedPolicy.ZERO,
        description="a lapsed dated limit: zero (no deferred credit) or no_limit (as no limit granted)",
    )

    def stale_policy(self) -> StalePolicy:
        return StalePolicy(max_age=self.max_age, fallback=self.stale_fallback)

    def policy(self) -> CreditPolicy:
        """The policy every target and storefront decides by (handed to targets in ``AdapterContext.policy``)."""
        return CreditPolicy(no_limit=self.no_limit, lapsed_limit=self.lapsed_limit, stale=self.stale_policy())


class PipelineConfig(PluginOptions):
    name: str
    source: str
    target: str
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or any(c.isspace() for c in v):
            raise ValueError("pipeline name must be non-empty and contain no spaces")
        return v


class _RawConfig(PluginOptions):
    state: StateConfig = StateConfig()
    engine: EngineConfig = EngineConfig()
    sources: dict[str, dict[str, Any]] = {}
    targets: dict[str, dict[str, Any]] = {}
    pipelines: list[PipelineConfig] = []


class ConfiguredAdapter(Generic[AdapterT]):
    """One ``[sources.NAME]`` or ``[targets.NAME]`` table: the plugin's adapter class and its validated options.

    A plain class, not a pydantic model: it is built by ``parse_config``, never from user data, so pydantic
    only checks its type (and does not try to validate the adapter class inside).
    """

    __slots__ = ("name", "options", "plugin", "registered")

    def __init__(self, *, name: str, plugin: str, registered: Registered[AdapterT], options: PluginOptions) -> None:
        self.name = name
        self.plugin = plugin
        self.registered = registered
        self.options = options

    def __repr__(self) -> str:
        return f"ConfiguredAdapter(name={self.name!r}, plugin={self.plugin!r})"


class Config(BaseModel):
    """A validated configuration. ``sources``/``targets`` hold each plugin's own validated options."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path | None = None
    state: StateConfig
    engine: EngineConfig
    sources: dict[str, ConfiguredAdapter[Source[Any]]]
    targets: dict[str, ConfiguredAdapter[Target[Any]]]
    pipelines: list[PipelineConfig]

    def pipeline(self, name: str) -> PipelineConfig:
        for p in self.pipelines:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.pipelines) or "none"
        raise ConfigError(f"no pipeline named {name!r} in the config (pipelines: {known})")

    def redacted(self) -> dict[str, Any]:
        """The effective config with every secret replaced by ``***`` (for ``config show``)."""

        def dump(adapter: ConfiguredAdapter[Any]) -> dict[str, Any]:
            return {"plugin": adapter.plugin, **_redact(adapter.options.model_dump(mode="json"))}

        return {
            "state": _redact(self.state.model_dump(mode="json")),
            "engine": self.engine.model_dump(mode="json"),
            "sources": {n: dump(a) for n, a in self.sources.items()},
            "targets": {n: dump(a) for n, a in self.targets.items()},
            "pipelines": [p.model_dump(mode="json") for p in self.pipelines],
        }


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, str):
        return "***" if value == "**********" else mask(value)
    return value


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _problems(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> list[str]:
    problems = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown option (check the spelling)"
        problems.append(f"{_path(prefix + tuple(err['loc']))}: {mask(msg)}")
    return problems


def _resolve_sqlite(url: str, base: Path | None) -> str:
    """Relative SQLite paths are relative to the config file, not to wherever the runner was started."""
    if base is None or not url.startswith("sqlite"):
        return url
    parsed = make_url(url)
    db = parsed.database
    if not db or db == ":memory:" or Path(db).is_absolute():
        return url
    return parsed.set(database=str((base / db).resolve())).render_as_string(hide_password=False)


def _valid_pipelines(items: Any) -> list[PipelineConfig | None]:
    """Each pipeline that validates on its own, ``None`` in place of one that does not (its errors are already
    reported), so references are still checked, under the right index, when another part of the file is wrong."""
    valid: list[PipelineConfig | None] = []
    for item in items if isinstance(items, list) else []:
        try:
            valid.append(PipelineConfig.model_validate(item))
        except ValidationError:
            valid.append(None)
    return valid


def parse_config(data: dict[str, Any], host: Any, *, path: Path | None = None) -> Config:
    """Validate a config mapping against the core models and each plugin's own options model."""
    problems: list[str] = []
    try:
        raw = _RawConfig.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems(exc))
        # Keep validating the plugin sections so the user sees every problem at once.
        fallback: dict[str, Any] = {  # pipelines may hold None: see _valid_pipelines
            "state": StateConfig(), "engine": EngineConfig(),
            "sources": data.get("sources") if isinstance(data.get("sources"), dict) else {},
            "targets": data.get("targets") if isinstance(data.get("targets"), dict) else {},
            "pipelines": _valid_pipelines(data.get("pipelines")),
        }
        raw = _RawConfig.model_construct(**fallback)
    base = path.parent if path else None
    adapters: dict[str, dict[str, ConfiguredAdapter[Any]]] = {"sources": {}, "targets": {}}
    for section, lookup in (("sources", host.sources), ("targets", host.targets)):
        for name, body in getattr(raw, section).items():
            if not isinstance(body, dict):
                problems.append(f"{section}.{name}: must be a table")
                continue
            options = dict(body)
            plugin = options.pop("plugin", None)
            if plugin is None:
                problems.append(f"{section}.{name}.plugin: missing (which plugin reads/writes this?)")
                continue
            if plugin not in lookup:
                known = ", ".join(sorted(lookup)) or "none installed"
                problems.append(f"{section}.{name}.plugin: unknown plugin {plugin!r} (available: {known})")
                continue
            registered = lookup[plugin]
            try:
                opts = registered.cls.Options.model_validate(options, context={"base_dir": base})
            except ValidationError as exc:
                problems.extend(_problems(exc, (section, name)))
                continue
            if base is not None and isinstance(getattr(opts, "url", None), str):
                opts = opts.model_copy(update={"url": _resolve_sqlite(opts.url, base)})
            adapters[section][name] = ConfiguredAdapter(name=name, plugin=plugin, registered=registered, options=opts)
    names = set()
    for i, p in enumerate(raw.pipelines):
        if p is None:
            continue
        if p.name in names:
            problems.append(f"pipelines[{i}].name: duplicate pipeline name {p.name!r}")
        names.add(p.name)
        if p.source not in raw.sources:
            problems.append(f"pipelines[{i}].source: no source named {p.source!r}")
        if p.target not in raw.targets:
            problems.append(f"pipelines[{i}].target: no target named {p.target!r}")
    if problems:
        where = f" in {path}" if path else ""
        raise ConfigError(f"the configuration{where} has {len(problems)} problem(s):", problems)
    state = raw.state.model_copy(update={"url": _resolve_sqlite(raw.state.url, base)})
    return Config(
        path=path, state=state, engine=raw.engine,
        sources=adapters["sources"], targets=adapters["targets"], pipelines=list(raw.pipelines),
    )


def load_config(path: str | os.PathLike[str], host: Any | None = None) -> Config:
    """Read and validate a TOML config file."""
    from .plugins import get_host

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file} is not valid TOML: {exc}") from None
    return parse_config(data, host or get_host(), path=file.resolve())
