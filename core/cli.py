"""The thin ``tradecredit`` runner. Every command calls the library; no business logic lives here.

Exit codes (also in the README): 0 ok, 1 the run could not complete, 2 bad command line, 3 configuration
error or credentials refused, 4 some customers failed or were rejected (status ``partial``), 5 another run holds
the lock. With
several pipelines, the most severe one (``report.exit_code_for``). ``check``: 0 nothing failed, 1 a check
failed, 3 configuration error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from .controller_cli import register as register_controller_commands
from .errors import ConfigError, LockHeldError, PluginError, StateError, TradeCreditError
from .logs import configure_logging
from .plugins import STRICT_ENV, get_host
from .progress import TerminalProgress
from .report import ExitCode, RunReport, exit_code_for, exit_code_for_error, render_change, render_text
from .secrets import mask

log = logging.getLogger("tradecredit.cli")

CONFIG_OPTION = click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False),
    envvar="TRADECREDIT_CONFIG",
    help="Path of the TOML config file (or $TRADECREDIT_CONFIG).",
)


def _fail(message: str, code: ExitCode) -> None:
    click.echo(mask(message), err=True)
    sys.exit(int(code))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, LockHeldError):
        return f"Locked: {exc}"
    if isinstance(exc, ConfigError | PluginError):
        return f"Configuration error: {exc}"
    if isinstance(exc, StateError):
        return f"State store error: {exc}"
    if isinstance(exc, TradeCreditError):
        return f"Error: {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return "Interrupted."
    return f"Unexpected error: {type(exc).__name__}: {exc}"


def exit_codes_for_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Map typed errors to the documented exit codes, masking every message."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except BrokenPipeError:
            raise  # a closed stdout (`| head`): the group ends quietly
        except (Exception, KeyboardInterrupt) as exc:
            if not isinstance(exc, TradeCreditError | KeyboardInterrupt):
                # -v: where an unexpected error came from, masked like every log line.
                log.info("traceback of the unexpected error:", exc_info=exc)
            _fail(_describe(exc), exit_code_for_error(exc))

    return wrapper


class _PluginAwareGroup(click.Group):
    """Loads plugin commands lazily, the first time the CLI needs its command list."""

    _loaded_from: object = None

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # Plugins load while click builds the command list, before any command's own error handling runs,
        # so a strict-mode plugin failure would otherwise end even --help in a traceback.
        try:
            return super().main(*args, **kwargs)
        except PluginError as exc:
            _fail(f"Plugin error: {exc}\n(unset {STRICT_ENV} to skip plugins that fail to load)", ExitCode.CONFIG)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _quiet_stdout()
            ctx.exit(0)

    def _load_plugin_commands(self) -> None:
        # Keyed on the host, so an embedding application or a test that swaps the host gets its commands.
        host = get_host()
        if self._loaded_from is not host:
            self._loaded_from = host
            host.hook.register_commands(cli=self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load_plugin_commands()
        return super().get_command(ctx, cmd_name)


@click.group(cls=_PluginAwareGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="tradecredit")
@click.option("-v", "--verbose", count=True,
              help="More log output (-v: progress events and the traceback of an unexpected error; -vv: debug).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              envvar="TRADECREDIT_LOG_FORMAT", help="text: readable lines; json: one JSON object per line.")
@click.option("--log-file", type=click.Path(dir_okay=False), envvar="TRADECREDIT_LOG_FILE",
              help="Also log to this file, rotated at 10 MB (5 kept).")
def cli(verbose: int, log_format: str, log_file: str | None) -> None:
    """tradecredit keeps B2B trade credit (kredyt kupiecki) in step between Comarch ERP and online shops.

    \b
    Typical use:
      tradecredit config validate -c tradecredit.toml
      tradecredit check -c tradecredit.toml
      tradecredit run -c tradecredit.toml --dry-run     # preview what the first sync would overwrite
      tradecredit run -c tradecredit.toml
      tradecredit state history -c tradecredit.toml

    Exit codes: 0 ok, 1 run could not complete, 2 bad command line, 3 configuration error or
    credentials refused, 4 some customers failed or were rejected (status partial), 5 pipeline already
    running. Customers the shop cannot represent (unsupported) do not change the exit code.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    if log_format == "json" or log_file:
        level = min(level, logging.INFO)  # a log collector or a log file wants the run and batch events
    configure_logging(level, fmt=log_format, log_file=log_file)  # type: ignore[arg-type]


def _quiet_stdout() -> None:
    """stdout was closed by the reader (``| head``): point it at the null device so exit flushes nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests): nothing left to flush
        pass


_TerminalProgress = TerminalProgress  # a bar on stderr, only when it is a terminal (core/progress.py)


@cli.command()
@CONFIG_OPTION
@click.argument("pipelines", nargs=-1)
@click.option(
    "--dry-run", is_flag=True, help="Read and diff, print the plan (customer, field, old → new); write nothing."
)
@click.option("--full-refresh", is_flag=True, help="Ignore the ledger and resend every matched customer.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the run reports as a JSON list on stdout (one report per pipeline, also for one).")
@exit_codes_for_errors
def run(config_path: str, pipelines: tuple[str, ...], dry_run: bool, full_refresh: bool, as_json: bool) -> None:
    """Run PIPELINES (all enabled ones when none are named).

    Only customers whose payload differs from what the shop last confirmed are sent; failed customers
    are retried by the next run. Use --dry-run before the first sync: it shows what would be overwritten.
    A pipeline that fails does not stop the others; the exit code is the most severe one.
    """
    from .sync import run_pipelines

    progress = _TerminalProgress()

    def show(report: RunReport) -> None:
        progress.close()
        if not as_json:
            click.echo(render_text(report))
            click.echo()
        elif report.error:  # stdout carries only JSON; a log still learns what went wrong
            click.echo(mask(f"Pipeline {report.pipeline} {report.status}: {report.error}"), err=True)

    try:
        reports = run_pipelines(
            config_path, pipelines, dry_run=dry_run, full_refresh=full_refresh, progress=progress, on_report=show
        )
    finally:
        progress.close()
    if as_json:  # always a list, one report per pipeline, also for one pipeline (docs/configuration.md)
        payload = [json.loads(r.to_json()) for r in reports]
        click.echo(mask(json.dumps(payload, indent=2, ensure_ascii=False)))
    sys.exit(int(exit_code_for(reports)))


@cli.command()
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@exit_codes_for_errors
def check(config_path: str, as_json: bool) -> None:
    """Check the state store, connect to every source and target, say what works (and what would degrade).

    Exit code 0 when nothing FAILed (warnings included), 1 when a check failed, 3 for a configuration error.
    """
    from .check import check_config
    from .config import load_config

    lines = check_config(load_config(config_path))
    failed = any(line.result.status == "fail" for line in lines)
    if as_json:
        click.echo(mask(json.dumps([line.model_dump(mode="json") for line in lines], indent=2, ensure_ascii=False)))
    else:
        marks = {"ok": "OK  ", "warn": "WARN", "fail": "FAIL"}
        for line in lines:
            r = line.result
            click.echo(
                mask(f"{marks[r.status.value]} {line.subject}: {r.name}" + (f" — {r.detail}" if r.detail else ""))
            )
    sys.exit(int(ExitCode.ERROR if failed else ExitCode.OK))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def plugins(as_json: bool) -> None:
    """List installed plugins: name, distribution, version, hooks, and plugins that failed to load."""
    host = get_host()
    infos = host.plugins()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "plugins": [
                        {"name": i.plugin, "distribution": i.distribution, "version": i.version, "hooks": list(i.hooks)}
                        for i in infos
                    ],
                    "sources": {n: r.plugin for n, r in host.sources.items()},
                    "targets": {n: r.plugin for n, r in host.targets.items()},
                    "failures": [f.__dict__ for f in host.failures],
                },
                indent=2,
            )
        )
        return
    for i in infos:
        provides = [f"source {n}" for n, r in host.sources.items() if r.plugin == i.plugin]
        provides += [f"target {n}" for n, r in host.targets.items() if r.plugin == i.plugin]
        click.echo(f"{i.plugin:12} {i.distribution or '-'} {i.version or '-'}")
        click.echo(f"{'':12} provides: {', '.join(provides) or '-'}; hooks: {', '.join(i.hooks) or '-'}")
    for f in host.failures:
        click.echo(f"FAILED {f.plugin} ({f.distribution or '?'} {f.version or '?'}): {f.error}")


@cli.group()
def state() -> None:
    """Inspect and maintain the state store: runs and their audit trail, run leases, retention."""


@state.command("history")
@CONFIG_OPTION
@click.option("--pipeline", help="Only this pipeline.")
@click.option("--limit", default=20, show_default=True, help="How many runs.")
@click.option("--run", "run_id", type=int, help="Show the per-customer items of one run.")
@click.option("--json", "as_json", is_flag=True)
@exit_codes_for_errors
def state_history(config_path: str, pipeline: str | None, limit: int, run_id: int | None, as_json: bool) -> None:
    """Recent runs with their counts, or (with --run) what was sent to which shop, when, with what result."""
    from .config import load_config
    from .state import StateStore

    config = load_config(config_path, secrets="lazy")  # the history needs no shop or ERP secret
    store = StateStore.open(config.state.url, read_only=True)  # looking must not create or migrate the store
    try:
        if run_id is not None:
            items = store.run_items(run_id)
            trail = store.run_trail(run_id)
            if as_json:
                click.echo(json.dumps({"items": items, **trail}, default=str, indent=2, ensure_ascii=False))
                return
            for it in items:
                click.echo(
                    f"{it['at']:%Y-%m-%d %H:%M:%S} {it['outcome']:9} {it['code'] or '?':20} {it['reason'] or ''}"
                )
                for change in (it.get("detail") or {}).get("changes", []):  # what was written: old → new, why
                    click.echo(f"{'':31}{render_change(change)}")
            for outcome, n in sorted(trail.get("not_repeated", {}).items()):
                click.echo(f"… and {n} {outcome} customer(s) not repeated: the same outcome and reason as already "
                           "recorded in an earlier run (see that run, or `--run` of the run that recorded it)")
            return
        rows = store.history(pipeline, limit)
        if as_json:
            click.echo(json.dumps(rows, default=str, indent=2, ensure_ascii=False))
            return
        for r in rows:
            c = r["counts"]
            click.echo(
                f"#{r['id']:<5} {r['started_at']:%Y-%m-%d %H:%M:%S} {r['pipeline']:20} {r['status']:8} "
                f"read {c.get('read', 0)}, written {c.get('written', 0)}, failed {c.get('failed', 0)}, "
                f"rejected {c.get('rejected', 0)}, unsupported {c.get('unsupported', 0)}, "
                f"unchanged {c.get('unchanged', 0)}"
            )
    finally:
        store.close()


@state.command("unlock")
@CONFIG_OPTION
@click.argument("pipeline")
@click.option("--force", is_flag=True, help="Also release a live lease (its run stops before its next batch).")
@exit_codes_for_errors
def state_unlock(config_path: str, pipeline: str, force: bool) -> None:
    """Release PIPELINE's run lease, e.g. after a crash, without waiting for the next run to take it over.

    A lease whose holder is alive (still renewing it) is refused unless --force. The run that held it is
    marked abandoned and the release recorded. Exit 5 when refused.
    """
    from .config import load_config
    from .state import StateStore

    config = load_config(config_path, secrets="lazy")
    store = StateStore.open(config.state.url)
    try:
        info = store.unlock(pipeline, force=force, timeout=config.state.lease_timeout)
    finally:
        store.close()
    if info is None:
        click.echo(f"pipeline {pipeline}: no lease held, nothing to release")
    else:
        state = f"dead: {info.dead}" if info.dead else "alive, released with --force"
        click.echo(mask(f"pipeline {pipeline}: released the lease of run {info.run_id} ({info.detail}; {state})"))


@state.command("leases")
@CONFIG_OPTION
@click.option("--json", "as_json", is_flag=True)
@exit_codes_for_errors
def state_leases(config_path: str, as_json: bool) -> None:
    """Leases held now (live or dead) and the last takeovers and forced releases."""
    from .config import load_config
    from .state import StateStore

    config = load_config(config_path, secrets="lazy")
    store = StateStore.open(config.state.url, read_only=True)
    try:
        held, events = store.leases(timeout=config.state.lease_timeout), store.lease_events(limit=20)
    finally:
        store.close()
    if as_json:
        click.echo(mask(json.dumps({"leases": [h.__dict__ for h in held], "events": events}, default=str,
                                   indent=2, ensure_ascii=False)))
        return
    for h in held:
        click.echo(mask(f"{h.pipeline:20} run {h.run_id}: {h.detail} — " + (f"DEAD: {h.dead}" if h.dead else "live")))
    if not held:
        click.echo("no lease held")
    for e in events:
        click.echo(mask(f"{e['at']:%Y-%m-%d %H:%M:%S} {e['pipeline']:20} {e['event']:8} run {e['previous_run_id']}: "
                        f"{e['reason']}"))


@state.command("prune")
@CONFIG_OPTION
@click.option("--keep-runs", type=int, help="Override [state] keep_runs (runs kept per pipeline; 0: no limit).")
@click.option("--keep-days", type=int, help="Override [state] keep_days (0: no limit).")
@exit_codes_for_errors
def state_prune(config_path: str, keep_runs: int | None, keep_days: int | None) -> None:
    """Delete old runs and their audit rows now (every run also does this for its own pipeline).

    Never deleted: running runs and each pipeline's last completed run. The ledger is never pruned.
    """
    from .config import load_config
    from .state import StateStore

    config = load_config(config_path, secrets="lazy")
    store = StateStore.open(config.state.url)
    try:
        deleted = store.prune(keep_runs=config.state.keep_runs if keep_runs is None else keep_runs,
                              keep_days=config.state.keep_days if keep_days is None else keep_days)
    finally:
        store.close()
    click.echo(f"pruned {deleted['runs']} run(s), {deleted['items']} audit row(s), "
               f"{deleted['lease_events']} lease event(s)")


@cli.group()
def config() -> None:
    """Validate or show a config file."""


@config.command("validate")
@CONFIG_OPTION
@exit_codes_for_errors
def config_validate(config_path: str) -> None:
    """Validate the config; every problem is listed with its dotted path.

    Beyond the file: each database driver is installed (else the extra to install), and the names a source
    refers to in the ERP (a workstation, a branch) exist there — a warning says so when it cannot connect.
    """
    from .config import load_config
    from .validate import validate_config

    cfg = load_config(config_path)
    lines = validate_config(cfg)
    failed = [line for line in lines if line.result.status == "fail"]
    if failed:
        click.echo(f"Configuration error: {len(failed)} problem(s) beyond the file itself:", err=True)
    for line in lines:
        if line.result.status != "ok":
            r = line.result
            click.echo(mask(f"{r.status.value.upper()} {line.subject}: {r.name} — {r.detail}"
                            + (f" (fix: {r.fix})" if r.fix else "")), err=bool(failed))
    if failed:
        sys.exit(int(ExitCode.CONFIG))
    click.echo(f"OK: {len(cfg.sources)} source(s), {len(cfg.targets)} target(s), {len(cfg.pipelines)} pipeline(s)")


@config.command("show")
@CONFIG_OPTION
@exit_codes_for_errors
def config_show(config_path: str) -> None:
    """Print the effective config (defaults filled in) with every secret replaced by ***."""
    from .config import load_config

    # Secrets that cannot be resolved here are shown as *** all the same: showing needs none of them.
    click.echo(json.dumps(load_config(config_path, secrets="lazy").redacted(), indent=2, ensure_ascii=False))


@cli.group()
def service() -> None:
    """Run the pipelines on their schedules, unattended (and install that as a system service)."""


@service.command("run")
@CONFIG_OPTION
@exit_codes_for_errors
def service_run(config_path: str) -> None:
    """Run every enabled pipeline on its schedule (`every` or `cron`) until stopped (Ctrl+C, SIGTERM, service stop).

    \b
    A run missed while the service was down is caught up once at start. Consecutive failures of a pipeline
    back off (up to [service] backoff_max); the first success resets it. On stop the running pipeline finishes
    its current batch and releases its lease. Logs INFO by default; /healthz and /metrics when [service]
    listen is set. Exit 0 after a clean stop, 3 for a configuration error.
    """
    from .service import run_service

    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)  # a service logs each run
    sys.exit(run_service(config_path))


@service.command("install")
@CONFIG_OPTION
@click.option("--platform", "target_platform", type=click.Choice(["systemd", "windows"]), required=True)
@click.option("-o", "--output", "output_dir", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder to write the files into.")
@click.option("--user", default=None, help="Account the service runs as (systemd default: tradecredit; Windows: "
                                           "LocalService unless you give DOMAIN\\account).")
@click.option("--every", default="15m", show_default=True,
              help="Task Scheduler alternative only: how often the task runs `tradecredit run`.")
@exit_codes_for_errors
def service_install(config_path: str, target_platform: str, output_dir: str, user: str | None, every: str) -> None:
    """Write what the platform needs to run `tradecredit service run` as a service, and print the next commands.

    \b
    systemd: tradecredit.service (copy to /etc/systemd/system/).
    windows: tradecredit-service.xml for WinSW (a service wrapper) and tradecredit-task.xml, a Task
             Scheduler task running `tradecredit run` on a schedule, as an alternative without a wrapper.
    docs/operations.md explains every step.
    """
    from .install import write_service_files

    written, next_steps = write_service_files(target_platform, Path(config_path), Path(output_dir), user=user,
                                              every=every)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo("")
    click.echo(next_steps)


@cli.group()
def sandbox() -> None:
    """Local stand-ins for shops, on loopback, for trying tradecredit without a real shop."""


register_controller_commands(cli)  # explain, customers, history, console (issue 15)


def _add_first_hour_commands() -> None:
    from .doctor_cli import doctor_command

    cli.add_command(doctor_command)


_add_first_hour_commands()


def main() -> None:
    cli.main(prog_name="tradecredit")


if __name__ == "__main__":  # pragma: no cover
    main()
