"""``service install``: every generated file is validated (systemd-analyze verify; XSDs for the Windows XML)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree
from tradecredit.core.cli import cli

SCHEMAS = Path(__file__).parent / "schemas"
TASK_NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tradecredit.toml"
    path.write_text('[state]\nurl = "sqlite:///state/state.db"\n\n[service]\nstop_timeout = "2m"\n', encoding="utf-8")
    return path


def install(config_file: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["service", "install", "-c", str(config_file), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_unit_passes_systemd_analyze_verify(config_file, tmp_path):
    out = tmp_path / "out"
    output = install(config_file, "--platform", "systemd", "-o", str(out))
    unit = out / "tradecredit.service"
    text = unit.read_text(encoding="utf-8")
    assert "service run -c " + str(config_file) in text and "KillSignal=SIGTERM" in text
    assert "TimeoutStopSec=150" in text, "stop_timeout (2 min) + 30 s for the process to exit"
    assert f"ReadWritePaths={config_file.parent} {config_file.parent / 'state'}" in text
    assert "systemctl enable --now tradecredit" in output
    checked = verify(unit)
    assert checked.returncode == 0, checked.stderr
    broken = tmp_path / "broken.service"  # the check is real: a unit systemd would refuse fails it
    broken.write_text(text.replace("ExecStart=/", "ExecStart=relative/"), encoding="utf-8")
    assert verify(broken).returncode != 0


def test_the_windows_files_validate_against_their_schemas(config_file, tmp_path):
    out = tmp_path / "win"
    output = install(config_file, "--platform", "windows", "-o", str(out), "--every", "10m")
    task_file, service_file = out / "tradecredit-task.xml", out / "tradecredit-service.xml"
    assert task_file.read_bytes()[:2] == b"\xff\xfe", "schtasks reads UTF-16 with a byte order mark"
    task = etree.parse(str(task_file))
    etree.XMLSchema(etree.parse(str(SCHEMAS / "task-scheduler-1.2.xsd"))).assertValid(task)
    assert task.findtext(".//t:Repetition/t:Interval", namespaces=TASK_NS) == "PT10M"
    assert task.findtext(".//t:MultipleInstancesPolicy", namespaces=TASK_NS) == "IgnoreNew"
    assert f'run -c "{config_file}"' in task.findtext(".//t:Arguments", namespaces=TASK_NS)
    assert task.findtext(".//t:UserId", namespaces=TASK_NS) == "S-1-5-19", "LocalService unless an account is given"

    service = etree.parse(str(service_file))
    etree.XMLSchema(etree.parse(str(SCHEMAS / "winsw.xsd"))).assertValid(service)
    for required in ("id", "executable", "arguments", "stoptimeout"):
        assert service.findtext(required), f"WinSW needs <{required}>"
    assert service.findtext("stoptimeout") == "150 sec"
    assert "service run -c" in service.findtext("arguments")
    assert "schtasks /Create /TN tradecredit /XML" in output and "install" in output

    wrong = etree.fromstring(task_file.read_bytes().decode("utf-16").replace("PT10M", "PT10S").encode("utf-16"))
    assert not etree.XMLSchema(etree.parse(str(SCHEMAS / "task-scheduler-1.2.xsd"))).validate(wrong), \
        "the schema is strict: a 10-second repetition is refused like Task Scheduler refuses it"


def test_an_account_is_written_where_each_platform_expects_it(config_file, tmp_path):
    install(config_file, "--platform", "windows", "-o", str(tmp_path / "w"), "--user", r"FIRMA\svc_tradecredit")
    service = etree.parse(str(tmp_path / "w" / "tradecredit-service.xml"))
    assert (service.findtext("serviceaccount/domain"), service.findtext("serviceaccount/user")) == (
        "FIRMA", "svc_tradecredit")
    install(config_file, "--platform", "systemd", "-o", str(tmp_path / "s"), "--user", "tc")
    assert "User=tc\n" in (tmp_path / "s" / "tradecredit.service").read_text(encoding="utf-8")
