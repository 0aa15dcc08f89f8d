"""``tradecredit service install``: the files a platform needs to run ``tradecredit service run`` unattended.

* systemd: one ``tradecredit.service`` unit (a long-running service, no timer: the schedule is the service's).
* Windows Server: ``tradecredit-service.xml`` for WinSW (a well-kept service wrapper: it registers the service,
  restarts it on failure, rotates its console log and stops it with Ctrl+C, which ``service run`` handles as
  a graceful stop), plus ``tradecredit-task.xml``, a Task Scheduler task that runs ``tradecredit run`` on a
  repetition interval, for sites that do not want a wrapper.

Nothing here installs anything by itself: it writes files and prints the commands (docs/operations.md).
"""

from __future__ import annotations

import shutil
import sys
from datetime import timedelta
from pathlib import Path
from xml.sax.saxutils import escape

from sqlalchemy.engine import make_url

from .config import _duration, load_config
from .errors import ConfigError

SERVICE_NAME = "tradecredit"
LOCAL_SERVICE_SID = "S-1-5-19"  # NT AUTHORITY\LocalService: no password, no network identity of its own


def executable(platform: str) -> tuple[str, list[str]]:
    """How to start tradecredit from a service: the console script beside this Python, else ``python -m``."""
    script = "tradecredit.exe" if platform == "windows" else "tradecredit"
    folder = Path(sys.executable).parent
    for candidate in (folder / script, folder / "Scripts" / script):
        if candidate.exists():
            return str(candidate), []
    found = shutil.which("tradecredit")
    if found:
        return found, []
    return sys.executable, ["-m", "tradecredit.core.cli"]


def _iso_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")


def systemd_unit(exe: str, prefix: list[str], config: Path, *, user: str, writable: list[Path],
                 stop_timeout: timedelta) -> str:
    command = " ".join([exe, *prefix, "--log-format", "json", "service", "run", "-c", str(config)])
    paths = " ".join(sorted({str(p) for p in writable}))
    return f"""[Unit]
Description=tradecredit: trade credit kept in step between Comarch ERP and the shops
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={user}
Group={user}
WorkingDirectory={config.parent}
# Secrets as environment variables (api_key = {{ env = "…" }}) go into this file, readable by root only.
EnvironmentFile=-/etc/tradecredit/tradecredit.env
Environment=PYTHONUNBUFFERED=1
ExecStart={command}
# SIGTERM: the running pipeline finishes its batch and releases its lease.
KillSignal=SIGTERM
TimeoutStopSec={int(stop_timeout.total_seconds()) + 30}
Restart=always
RestartSec=10
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={paths}

[Install]
WantedBy=multi-user.target
"""


def winsw_xml(exe: str, prefix: list[str], config: Path, *, user: str | None, stop_timeout: timedelta) -> str:
    arguments = " ".join([*prefix, "--log-format", "json", "service", "run", "-c", f'"{config}"'])
    if user:
        domain, _, name = user.rpartition("\\")
        account = (f"  <serviceaccount>\n    <domain>{escape(domain or '.')}</domain>\n"
                   f"    <user>{escape(name)}</user>\n    <allowservicelogon>true</allowservicelogon>\n"
                   "    <!-- WinSW asks for the password at install time when it is not given here -->\n"
                   "  </serviceaccount>\n")
    else:
        account = ("  <serviceaccount>\n    <domain>NT AUTHORITY</domain>\n    <user>LocalService</user>\n"
                   "  </serviceaccount>\n")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- WinSW service definition written by `tradecredit service install` (platform windows). -->
<service>
  <id>{SERVICE_NAME}</id>
  <name>tradecredit</name>
  <description>Keeps B2B trade credit in step between Comarch ERP and the shops (tradecredit service run)</description>
  <executable>{escape(exe)}</executable>
  <arguments>{escape(arguments)}</arguments>
  <workingdirectory>{escape(str(config.parent))}</workingdirectory>
  <startmode>Automatic</startmode>
  <delayedAutoStart>true</delayedAutoStart>
  <!-- On stop WinSW sends Ctrl+C: the running pipeline finishes its batch and releases its lease. -->
  <stoptimeout>{int(stop_timeout.total_seconds()) + 30} sec</stoptimeout>
  <onfailure action="restart" delay="10 sec"/>
  <onfailure action="restart" delay="60 sec"/>
  <resetfailure>1 hour</resetfailure>
  <logpath>{escape(str(config.parent / "logs"))}</logpath>
  <log mode="roll-by-size">
    <sizeThreshold>10240</sizeThreshold>
    <keepFiles>8</keepFiles>
  </log>
  <env name="PYTHONUTF8" value="1"/>
{account}</service>
"""


def task_xml(exe: str, prefix: list[str], config: Path, *, user: str | None, every: timedelta) -> str:
    log_file = config.parent / "logs" / "tradecredit.log"
    arguments = " ".join([*prefix, "--log-format", "json", "--log-file", f'"{log_file}"', "run", "-c", f'"{config}"'])
    principal = (f"      <UserId>{escape(user)}</UserId>\n      <LogonType>Password</LogonType>\n" if user
                 else f"      <UserId>{LOCAL_SERVICE_SID}</UserId>\n")
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<!-- Task Scheduler task written by `tradecredit service install` (the alternative to WinSW). -->
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>tradecredit: trade credit sync, Comarch ERP to the shops, every {_iso_duration(every)}</Description>
    <URI>\\tradecredit</URI>
  </RegistrationInfo>
  <Triggers>
    <BootTrigger>
      <Enabled>true</Enabled>
      <Delay>PT2M</Delay>
    </BootTrigger>
    <TimeTrigger>
      <StartBoundary>2026-01-01T00:00:00</StartBoundary>
      <Enabled>true</Enabled>
      <Repetition>
        <Interval>{_iso_duration(every)}</Interval>
        <StopAtDurationEnd>false</StopAtDurationEnd>
      </Repetition>
    </TimeTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
{principal}      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <AllowHardTerminate>true</AllowHardTerminate>
    <ExecutionTimeLimit>PT2H</ExecutionTimeLimit>
    <Enabled>true</Enabled>
    <RestartOnFailure>
      <Interval>PT5M</Interval>
      <Count>3</Count>
    </RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{escape(exe)}</Command>
      <Arguments>{escape(arguments)}</Arguments>
      <WorkingDirectory>{escape(str(config.parent))}</WorkingDirectory>
    </Exec>
  </Actions>
</Task>
"""


def _writable_paths(config_path: Path) -> list[Path]:
    """What the service writes: the SQLite state file's folder (WAL files live beside it) and the config's."""
    paths = [config_path.parent]
    try:
        url = make_url(load_config(config_path, secrets="lazy").state.url)
    except ConfigError:
        return paths
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        paths.append(Path(url.database).parent)
    return paths


def write_service_files(platform: str, config_path: Path, output: Path, *, user: str | None = None,
                        every: str = "15m") -> tuple[list[Path], str]:
    """Write the platform's files into ``output``; return them and the commands that install them."""
    config_path = config_path.resolve()
    config = load_config(config_path, secrets="lazy")  # a broken config is refused before anything is written
    exe, prefix = executable(platform)
    output.mkdir(parents=True, exist_ok=True)
    stop_timeout = config.service.stop_timeout
    if platform == "systemd":
        unit = output / f"{SERVICE_NAME}.service"
        account = user or SERVICE_NAME
        unit.write_text(systemd_unit(exe, prefix, config_path, user=account, writable=_writable_paths(config_path),
                                     stop_timeout=stop_timeout), encoding="utf-8")
        steps = "\n".join([
            f"sudo useradd --system --home-dir {config_path.parent} --shell /usr/sbin/nologin {account}",
            f"sudo chown -R {account}: {config_path.parent}",
            f"sudo cp {unit} /etc/systemd/system/{unit.name}",
            "sudo systemctl daemon-reload",
            f"sudo systemctl enable --now {SERVICE_NAME}",
            f"journalctl -u {SERVICE_NAME} -f        # its log (JSON lines)",
        ])
        return [unit], steps
    if platform != "windows":
        raise ConfigError(f"unknown platform {platform!r}: systemd or windows")
    interval = _duration(every)
    if not isinstance(interval, timedelta) or interval < timedelta(minutes=1):
        raise ConfigError(f"--every {every!r}: a duration of at least 1 minute, e.g. 15m")
    service = output / f"{SERVICE_NAME}-service.xml"
    service.write_text(winsw_xml(exe, prefix, config_path, user=user, stop_timeout=stop_timeout), encoding="utf-8")
    task = output / f"{SERVICE_NAME}-task.xml"
    # schtasks /XML expects UTF-16 (with its byte order mark), as Task Scheduler itself exports tasks.
    task.write_text(task_xml(exe, prefix, config_path, user=user, every=interval), encoding="utf-16")
    steps = "\n".join([
        "Either as a service (recommended), with WinSW (https://github.com/winsw/winsw, one .exe):",
        f"  copy WinSW-x64.exe {output / (SERVICE_NAME + '-service.exe')}",
        f"  {output / (SERVICE_NAME + '-service.exe')} install      # reads {service.name} beside it",
        f"  {output / (SERVICE_NAME + '-service.exe')} start",
        "Or as a scheduled task (no wrapper; `tradecredit run` every --every):",
        f'  schtasks /Create /TN tradecredit /XML "{task}"' + (" /RU " + user + " /RP *" if user else ""),
    ])
    return [service, task], steps
