"""The configuration file: TOML, validated in one go, every problem reported with its dotted path.

Secrets are written inline, or as ``{ env = "NAME" }`` / ``{ file = "path" }``; every resolved secret (and
every password inside a database URL) is registered for masking before anything can print it.

Commands that talk to no source or target (``state …``, ``config show``) load the config with
``secrets="lazy"``: a reference inside ``sources``, ``targets`` or a plugin's section that cannot be resolved
(variable unset, file missing) is then kept as an unresolved placeholder instead of being an error, so a credit
controller can read the history without the shop's API key. ``[state] url`` is always resolved: those
commands need it. ``run``, ``check`` and ``service run`` resolve everything and fail on a missing secret.
"""

from __future__ import annotations

import contextvars
import os
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Generic, Literal
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
    model_validator,
)
from sqlalchemy.engine import make_url

from .adapters import AdapterT, PluginOptions, Registered, Source, Target
from .billing import CountryTable, is_alpha2
from .engine import CreditPolicy, LapsedPolicy, NoLimitPolicy, StaleFallback, StalePolicy
from .errors import ConfigError
from .secrets import mask, register_secret

DEFAULT_STATE_URL = "sqlite:///tradecredit-state.db"


_LAZY_SECRETS: contextvars.ContextVar[bool] = contextvars.ContextVar("tradecredit_lazy_secrets", default=False)
# The config file's folder while it is parsed: a secret { file = "…" } is relative to it, like SQLite paths
# (one rule, whatever folder the runner was started from).
_BASE_DIR: contextvars.ContextVar[Path | None] = contextvars.ContextVar("tradecredit_config_dir", default=None)


class Unresolved(str):
    """A secret reference left unresolved by a lazy load (``secrets="lazy"``); never used to connect."""

    __slots__ = ()


@contextmanager
def _lazy_secrets(enabled: bool) -> Iterator[None]:
    token = _LAZY_SECRETS.set(enabled)
    try:
        yield
    finally:
        _LAZY_SECRETS.reset(token)


@contextmanager
def _config_dir(base: Path | None) -> Iterator[None]:
    token = _BASE_DIR.set(base)
    try:
        yield
    finally:
        _BASE_DIR.reset(token)


def _unresolvable(message: str, placeholder: str) -> Unresolved:
    if _LAZY_SECRETS.get():
        return Unresolved(placeholder)
    raise ValueError(message)


def _resolve_reference(value: Any) -> Any:
    """``{env = NAME}`` → the variable's value, ``{file = PATH}`` → the file's text; other values unchanged."""
    if isinstance(value, dict):
        keys = set(value)
        if keys == {"env"}:
            name = str(value["env"])
            if name not in os.environ:
                return _unresolvable(f"environment variable {name} is not set", f"<unresolved env {name}>")
            if not os.environ[name].strip():
                raise ValueError(f"environment variable {name} is empty")
            return os.environ[name]
        if keys == {"file"}:
            path = Path(str(value["file"])).expanduser()
            base = _BASE_DIR.get()
            if base is not None and not path.is_absolute():
                path = base / path
            try:
                text = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                return _unresolvable(f"cannot read secret file {path}: {exc.strerror}", f"<unresolved file {path}>")
            except UnicodeDecodeError:
                raise ValueError(f"secret file {path} is not UTF-8 text") from None
            if not text:
                raise ValueError(f"secret file {path} is empty")
            return text
        raise ValueError("a secret is a string, { env = \"NAME\" } or { file = \"path\" }")
    return value


def _secret(value: Any) -> Any:
    value = _resolve_reference(value)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("is empty: write the secret, or { env = \"NAME\" } / { file = \"path\" }")
        register_secret(value)
    return value


def _database_url(value: Any) -> Any:
    value = _resolve_reference(value)
    if not isinstance(value, str) or isinstance(value, Unresolved):
        return value
    try:
        url = make_url(value)
    except Exception:  # noqa: BLE001 - reported by the validator below with the masked text
        raise ValueError(f"{mask(value)!r} is not a database URL (dialect+driver://user:password@host/db)") from None
    if url.password:
        register_secret(str(url.password))
    from .dialects import dialect_problem  # an unknown dialect (``sqllite://``) is a config error, not a run error

    unknown = dialect_problem(url)
    if unknown is not None:
        raise ValueError(f"{unknown.message}: {unknown.fix}")
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


_DURATION = re.compile(r"^\s*(?:(?P<d>\d+)\s*d)?\s*(?:(?P<h>\d+)\s*h)?\s*(?:(?P<m>\d+)\s*m(?:in)?)?\s*"
                       r"(?:(?P<s>\d+(?:\.\d+)?)\s*s)?\s*$")


def _duration(value: Any) -> Any:
    """``"90s"``, ``"5m"``, ``"1h30m"``, ``"2d"`` → timedelta; ISO 8601 (``PT5M``) and numbers (seconds) pass on."""
    if isinstance(value, str) and not value.strip().upper().startswith("P"):
        match = _DURATION.match(value)
        if not match or not any(match.groupdict().values()):
            raise ValueError(f"{value!r} is not a duration: write e.g. \"90s\", \"5m\", \"1h30m\", \"2d\" or PT5M")
        parts = {k: float(v) for k, v in match.groupdict().items() if v}
        return timedelta(days=parts.get("d", 0), hours=parts.get("h", 0), minutes=parts.get("m", 0),
                         seconds=parts.get("s", 0))
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0 seconds")
    return value


def _not_negative(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise ValueError("must not be negative")
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive)]
"""A positive duration: ``"90s"``, ``"5m"``, ``"1h30m"``, ``"2d"``, ISO 8601 (``PT5M``) or seconds."""

Delay = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_not_negative)]
"""A duration that may be 0 (``"0s"``: none)."""


class StateConfig(PluginOptions):
    url: DatabaseUrl = Field(DEFAULT_STATE_URL, description="SQLAlchemy URL of the state store")
    lease_timeout: Duration = Field(
        timedelta(seconds=60),
        description="a run's lease not renewed for this long (its runner died) is taken over by the next run",
    )
    keep_runs: int = Field(5000, ge=0, description="runs kept per pipeline (0: no limit by count)")
    keep_days: int = Field(90, ge=0, description="runs older than this many days are pruned (0: no limit by age)")

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "lock_timeout" in data:
            raise ValueError("lock_timeout was replaced by lease_timeout (a run's lock is now a lease its runner "
                             "renews every few seconds; default \"60s\"): rename or remove it")
        return data


class ServiceConfig(PluginOptions):
    """``[service]``: how ``tradecredit service run`` schedules and exposes the pipelines."""

    every: Duration | None = Field(None, description="schedule of pipelines that set neither every nor cron")
    jitter: Delay | None = Field(
        timedelta(seconds=30), description="each start is delayed by a random 0…jitter, so pipelines that share "
        "an ERP do not start together",
    )
    time_zone: TimeZoneName = Field("Europe/Warsaw", description="time zone of cron expressions")
    catch_up: bool = Field(True, description="at start, run once at once a pipeline whose scheduled run was missed")
    backoff_max: Duration = Field(timedelta(hours=1), description="longest pause after consecutive failures")
    stop_timeout: Duration = Field(
        timedelta(seconds=60), description="on stop, how long to wait for a run to finish its current batch",
    )
    listen: str | None = Field(
        None, description="host:port (or a port: loopback) serving /healthz and /metrics; off when unset",
    )

    @field_validator("listen", mode="before")
    @classmethod
    def _listen(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            v = f"127.0.0.1:{v}"
        if isinstance(v, str):
            host, sep, port = v.rpartition(":")
            if not sep:
                host, port = "127.0.0.1", v
            if not port.isdigit() or not 0 <= int(port) < 65536:
                raise ValueError(f"{v!r}: expected host:port or a port number (0–65535; 0: any free port)")
            return f"{host.strip('[]') or '127.0.0.1'}:{int(port)}"
        return v

    def address(self) -> tuple[str, int] | None:
        if self.listen is None:
            return None
        host, _, port = self.listen.rpartition(":")
        return host, int(port)


class ConsoleConfig(PluginOptions):
    """``[console]``: the read-only web console of ``tradecredit console`` (docs/console.md)."""

    listen: str = Field("127.0.0.1:8765", description="host:port to serve on (loopback by default)")
    password: Secret | None = Field(None, description="the console's login password (inline, env or file); "
                                    "without it the console refuses to start")
    session_secret: Secret | None = Field(None, description="key signing the session cookie (default: derived "
                                          "from the password; set it to keep sessions across password changes)")
    session_hours: float = Field(8.0, gt=0, description="a login lasts this many hours")
    lang: Literal["pl", "en"] = Field("pl", description="the console's default language (switchable per page)")
    time_zone: TimeZoneName = Field("Europe/Warsaw", description="time zone of the times shown")
    serve_in_service: bool = Field(False, description="also serve the console from `tradecredit service run`")

    @field_validator("listen", mode="before")
    @classmethod
    def _listen(cls, v: Any) -> Any:
        return ServiceConfig._listen(v)

    def address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host, int(port)


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


class BillingConfig(PluginOptions):
    """``[billing]``: how billing data (``sync = ["credit", "billing"]``) is read (docs/billing.md)."""

    countries: dict[str, str] = Field(
        default_factory=dict, description="ERP country text → ISO 3166-1 alpha-2, beside the built-in table",
    )
    default_country: str | None = Field("PL", description="the country of a card whose country is empty; "
                                                          "\"\" = such a card's billing data is rejected")

    @field_validator("countries")
    @classmethod
    def _codes(cls, v: dict[str, str]) -> dict[str, str]:
        wrong = [f"{name!r} = {code!r}" for name, code in v.items() if not is_alpha2(code)]
        if wrong:
            raise ValueError(f"not ISO 3166-1 alpha-2 codes: {', '.join(wrong)}")
        return v

    @field_validator("default_country")
    @classmethod
    def _default(cls, v: str | None) -> str | None:
        if not v:
            return None  # TOML has no null: "" turns the default off
        if not is_alpha2(v):
            raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-2 code")
        return v.upper()

    def table(self) -> CountryTable:
        return CountryTable(self.countries, self.default_country)


class PipelineConfig(PluginOptions):
    name: str
    source: str
    target: str
    enabled: bool = True
    sync: list[Literal["credit", "billing"]] = Field(
        default_factory=lambda: ["credit"],  # type: ignore[arg-type]  # mypy widens the lambda's list
        description='data kinds synced: ["credit"] (default) or ["credit", "billing"] (docs/billing.md)',
    )
    every: Duration | None = Field(None, description="service mode: run every … (\"5m\", \"1h\")")
    cron: str | None = Field(None, description="service mode: a cron expression (\"*/15 6-22 * * 1-5\")")
    max_age: Duration | None = Field(
        None, description="no confirmed sync for longer than this is stale (health, alerts); default [engine] max_age",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v or any(c.isspace() for c in v):
            raise ValueError("pipeline name must be non-empty and contain no spaces")
        return v

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(v, timezone="UTC")
            except ValueError as exc:
                raise ValueError(f"{v!r} is not a cron expression (minute hour day month weekday): {exc}") from None
        return v

    @model_validator(mode="after")
    def _one_schedule(self) -> PipelineConfig:
        if self.every is not None and self.cron is not None:
            raise ValueError("give either every or cron, not both")
        return self

    @field_validator("sync")
    @classmethod
    def _sync(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("names a kind twice")
        if "credit" not in v:
            raise ValueError('must include "credit" (billing is synced beside credit: ["credit", "billing"])')
        return v


class _RawConfig(PluginOptions):
    # Top-level tables that no core model knows are plugin sections (``register_config_sections``).
    model_config = ConfigDict(extra="allow")

    state: StateConfig = StateConfig()
    engine: EngineConfig = EngineConfig()
    service: ServiceConfig = ServiceConfig()
    billing: BillingConfig = BillingConfig()
    console: dict[str, Any] = {}  # validated as ConsoleConfig with the plugin sections: its password may be lazy
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
    service: ServiceConfig = ServiceConfig()
    billing: BillingConfig = BillingConfig()
    console: ConsoleConfig = ConsoleConfig()
    sources: dict[str, ConfiguredAdapter[Source[Any]]]
    targets: dict[str, ConfiguredAdapter[Target[Any]]]
    pipelines: list[PipelineConfig]
    sections: dict[str, PluginOptions] = Field(
        default_factory=dict, description="plugin sections ([notify], …), each validated by its plugin's model",
    )

    def pipeline(self, name: str) -> PipelineConfig:
        for p in self.pipelines:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.pipelines) or "none"
        raise ConfigError(f"no pipeline named {name!r} in the config (pipelines: {known})")

    def max_age(self, pipeline: PipelineConfig) -> timedelta | None:
        """How old a pipeline's last confirmed sync may be before its data is stale (health, alerts)."""
        return pipeline.max_age or self.engine.max_age

    def redacted(self) -> dict[str, Any]:
        """The effective config with every secret replaced by ``***`` (for ``config show``)."""

        def dump(adapter: ConfiguredAdapter[Any]) -> dict[str, Any]:
            return {"plugin": adapter.plugin, **_redact(adapter.options.model_dump(mode="json"))}

        return {
            "state": _redact(self.state.model_dump(mode="json")),
            "engine": self.engine.model_dump(mode="json"),
            "service": self.service.model_dump(mode="json"),
            "billing": self.billing.model_dump(mode="json"),
            "console": _redact(self.console.model_dump(mode="json")),
            "sources": {n: dump(a) for n, a in self.sources.items()},
            "targets": {n: dump(a) for n, a in self.targets.items()},
            "pipelines": [p.model_dump(mode="json", exclude_none=True) for p in self.pipelines],
            **{n: _redact(o.model_dump(mode="json")) for n, o in self.sections.items()},
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


# pydantic names the member of a union that failed in the error's location (``workstation.int``,
# ``workstation.str``): one wrong value would read as two problems at two paths that are not in the file.
_UNION_MEMBER = re.compile(r"^(int|str|float|bool|list|dict|decimal|timedelta|date|datetime|none|enum)$|\[")


def _problems(exc: ValidationError, prefix: tuple[Any, ...] = ()) -> list[str]:
    by_path: dict[str, list[str]] = {}
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown option (check the spelling)"
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and _UNION_MEMBER.search(p)))
        messages = by_path.setdefault(_path(prefix + loc), [])
        if msg not in messages:
            messages.append(msg)
    problems = []
    for path, messages in by_path.items():
        if len(messages) > 1 and all(m.startswith("Input should be ") for m in messages):
            text = "Input should be " + " or ".join(m.removeprefix("Input should be ") for m in messages)
        else:
            text = "; ".join(messages)
        problems.append(f"{path}: {mask(text)}")
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


SecretsMode = Literal["resolve", "lazy"]
_CORE_SECTIONS = frozenset(_RawConfig.model_fields)


def plugin_sections(host: Any) -> dict[str, tuple[str, type[PluginOptions]]]:
    """Top-level config tables claimed by plugins: section → (plugin name, options model)."""
    pm = getattr(host, "pm", None)
    hook = getattr(getattr(pm, "hook", None), "register_config_sections", None)
    found: dict[str, tuple[str, type[PluginOptions]]] = {}
    if hook is None:
        return found
    for impl in hook.get_hookimpls():
        def register(name: str, model: type, plugin: str = impl.plugin_name) -> None:
            if name in _CORE_SECTIONS or name in found:
                owner = "tradecredit" if name in _CORE_SECTIONS else found[name][0]
                raise ConfigError(f"plugin {plugin!r} registers config section [{name}], already owned by {owner}")
            if not (isinstance(model, type) and issubclass(model, PluginOptions)):
                raise ConfigError(f"plugin {plugin!r}: config section [{name}] needs a PluginOptions model")
            found[name] = (plugin, model)

        impl.function(register=register)
    return found


def parse_config(
    data: dict[str, Any], host: Any, *, path: Path | None = None, secrets: SecretsMode = "resolve"
) -> Config:
    """Validate a config mapping against the core models and each plugin's own options model.

    ``secrets="lazy"`` keeps secret references of sources, targets and plugin sections that cannot be resolved
    as placeholders (for commands that talk to none of them; see the module docstring).
    """
    with _config_dir(path.parent if path else None):
        return _parse_config(data, host, path=path, secrets=secrets)


def _parse_config(data: dict[str, Any], host: Any, *, path: Path | None, secrets: SecretsMode) -> Config:
    problems: list[str] = []
    try:
        raw = _RawConfig.model_validate(data)
        extra = dict(raw.model_extra or {})
    except ValidationError as exc:
        problems.extend(_problems(exc))
        # Keep validating the plugin sections so the user sees every problem at once.
        fallback: dict[str, Any] = {  # pipelines may hold None: see _valid_pipelines
            "state": StateConfig(), "engine": EngineConfig(), "service": ServiceConfig(), "billing": BillingConfig(),
            "console": {},
            "sources": data.get("sources") if isinstance(data.get("sources"), dict) else {},
            "targets": data.get("targets") if isinstance(data.get("targets"), dict) else {},
            "pipelines": _valid_pipelines(data.get("pipelines")),
        }
        raw = _RawConfig.model_construct(**fallback)
        extra = {k: v for k, v in data.items() if k not in _CORE_SECTIONS}
    base = path.parent if path else None
    adapters: dict[str, dict[str, ConfiguredAdapter[Any]]] = {"sources": {}, "targets": {}}
    sections: dict[str, PluginOptions] = {}
    with _lazy_secrets(secrets == "lazy"):
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
                failed = [f for f in getattr(host, "failures", []) if f.plugin == plugin]
                if plugin not in lookup and failed:
                    problems.append(f"{section}.{name}.plugin: plugin {plugin!r} is installed but failed to load "
                                    f"({failed[0].distribution or '?'} {failed[0].version or '?'}): {failed[0].error}")
                    continue
                if plugin not in lookup:
                    known = ", ".join(sorted(lookup)) or "none installed"
                    others = "; ".join(f"{f.plugin}: {f.error}" for f in getattr(host, "failures", []))
                    problems.append(f"{section}.{name}.plugin: unknown plugin {plugin!r} (available: {known})"
                                    + (f"; plugins that failed to load — {others}" if others else ""))
                    continue
                registered = lookup[plugin]
                try:
                    opts = registered.cls.Options.model_validate(options, context={"base_dir": base})
                except ValidationError as exc:
                    problems.extend(_problems(exc, (section, name)))
                    continue
                if base is not None and isinstance(getattr(opts, "url", None), str):
                    opts = opts.model_copy(update={"url": _resolve_sqlite(opts.url, base)})
                adapters[section][name] = ConfiguredAdapter(name=name, plugin=plugin, registered=registered,
                                                            options=opts)
        console = ConsoleConfig()
        try:
            console = ConsoleConfig.model_validate(raw.console or {})
        except ValidationError as exc:
            problems.extend(_problems(exc, ("console",)))
        claimed = plugin_sections(host) if extra else {}
        for name, body in extra.items():
            if name not in claimed:
                problems.append(f"{name}: unknown section (check the spelling, or install the plugin that uses it)")
                continue
            if not isinstance(body, dict):
                problems.append(f"{name}: must be a table")
                continue
            try:
                sections[name] = claimed[name][1].model_validate(body, context={"base_dir": base})
            except ValidationError as exc:
                problems.extend(_problems(exc, (name,)))
    names = set()
    items = data.get("pipelines") if isinstance(data.get("pipelines"), list) else []
    for i, p in enumerate(raw.pipelines):
        if p is None:
            # invalid on its own (reported above): its references are still worth checking
            item = items[i] if i < len(items) and isinstance(items[i], dict) else {}
            for ref, known in (("source", raw.sources), ("target", raw.targets)):
                if isinstance(item.get(ref), str) and item[ref] not in known:
                    problems.append(f"pipelines[{i}].{ref}: no {ref} named {item[ref]!r}")
            continue
        if p.name in names:
            problems.append(f"pipelines[{i}].name: duplicate pipeline name {p.name!r}")
        names.add(p.name)
        if p.source not in raw.sources:
            problems.append(f"pipelines[{i}].source: no source named {p.source!r}")
        if p.target not in raw.targets:
            problems.append(f"pipelines[{i}].target: no target named {p.target!r}")
        for section, name in (("sources", p.source), ("targets", p.target)):
            adapter = adapters[section].get(name)
            if adapter is None:
                continue
            missing = [k for k in p.sync if k not in adapter.registered.cls.kinds]
            if missing:
                problems.append(f"pipelines[{i}].sync: {section[:-1]} {name!r} (plugin {adapter.plugin!r}) cannot "
                                f"sync {', '.join(missing)}")
    if problems:
        problems = list(dict.fromkeys(problems))  # one problem seen by two checks is still one problem
        where = f" in {path}" if path else ""
        raise ConfigError(f"the configuration{where} has {len(problems)} problem(s):", problems)
    state = raw.state.model_copy(update={"url": _resolve_sqlite(raw.state.url, base)})
    return Config(
        path=path, state=state, engine=raw.engine, service=raw.service, billing=raw.billing, console=console,
        sources=adapters["sources"], targets=adapters["targets"], pipelines=list(raw.pipelines), sections=sections,
    )


def load_config(
    path: str | os.PathLike[str], host: Any | None = None, *, secrets: SecretsMode = "resolve"
) -> Config:
    """Read and validate a TOML config file (``secrets="lazy"``: see ``parse_config``)."""
    from .plugins import get_host

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file} is not UTF-8 text (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r}); "
                          "save it as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file} is not valid TOML: {exc}") from None
    return parse_config(data, host or get_host(), path=file.resolve(), secrets=secrets)
