"""What an administrator installs from: the Dockerfile and the systemd unit say what the code
accepts (issue 25). The image is built and run where a docker daemon answers; the unit is
checked by ``systemd-analyze verify`` where it is installed."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from seganypet_node.app import LISTENER_GRACE_S
from seganypet_node.cli import _parser
from seganypet_node.config import load_config
from seganypet_node.errors import EXIT_USAGE
from seganypet_node.polling import STOP_GRACE_S
from tests.support import echoscu, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "config" / "systemd" / "seganypet-node.service"
DOCKERFILE = ROOT / "Dockerfile"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser


def _environment(lines: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for line in lines for item in shlex.split(line))


def test_the_systemd_unit_runs_serve_with_settings_the_node_accepts() -> None:
    service = _unit()["Service"]
    command = shlex.split(service["ExecStart"])
    assert Path(command[0]).name == "seganypet-node"
    args = _parser().parse_args(command[1:])
    assert args.command == "serve"
    environ = _environment([service["Environment"]])
    config = load_config(None, environ)  # an unknown or mistyped key raises, naming it
    assert str(config.node.data_dir) == service["ReadWritePaths"] == service["WorkingDirectory"]
    # systemd must wait longer than the node takes to stop, and must not loop on a bad config.
    assert float(service["TimeoutStopSec"]) > LISTENER_GRACE_S + 2 * STOP_GRACE_S
    assert service["KillSignal"] == "SIGTERM"
    assert service["RestartPreventExitStatus"] == str(EXIT_USAGE)


def test_systemd_accepts_the_unit(tmp_path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    executable = shutil.which("seganypet-node") or pytest.skip("seganypet-node not on PATH")
    unit = tmp_path / UNIT.name
    unit.write_text(re.sub(r"/opt/seganypet-node/\.venv/bin/seganypet-node", executable,
                           UNIT.read_text()))
    verified = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                              timeout=60, check=False)
    problems = [line for line in (verified.stdout + verified.stderr).splitlines()
                if str(unit) in line or "Unknown" in line or "Failed" in line]
    assert verified.returncode == 0 and problems == [], verified.stderr


def test_the_dockerfile_installs_cpu_torch_and_copies_what_the_package_reads() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r'pip install .*"torch==[\d.]+" --index-url https://download\.pytorch\.org'
                     r'/whl/cpu', text)
    copied = set(re.findall(r"^COPY (\S+)", text, re.MULTILINE))
    for needed in ("seganypet_node", "config", "migrations", "models"):
        assert needed in copied, needed
    environ = dict(re.findall(r"(SEGANYPET_\w+)=(\S+)", text))
    config = load_config(None, environ)
    assert str(config.node.data_dir) == "/data" and config.node.host == "0.0.0.0"
    assert _parser().parse_args(["serve"]).command == "serve"
    assert re.search(r'^CMD \["seganypet-node", "serve"\]', text, re.MULTILINE)


def _docker_available() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    info = subprocess.run([docker, "info"], capture_output=True, timeout=30, check=False)
    return info.returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _docker_available(),
                    reason="no docker daemon answers `docker info` (build and run documented "
                           "in the README)")
def test_the_image_builds_and_serves_echo(tmp_path) -> None:  # pragma: no cover - needs docker
    tag = f"seganypet-node-test:{int(time.time())}"
    subprocess.run(["docker", "build", "-t", tag, str(ROOT)], check=True, timeout=1800)
    port = free_port()
    container = subprocess.run(
        ["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:11112", tag],
        capture_output=True, text=True, check=True, timeout=120).stdout.strip()
    try:
        deadline = time.monotonic() + 120
        while echoscu(port) != 0:
            assert time.monotonic() < deadline, "the container never answered C-ECHO"
            time.sleep(1)
        started = time.monotonic()
        subprocess.run(["docker", "stop", "-t", "30", container], check=True, timeout=60)
        assert time.monotonic() - started < 15
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=60,
                       check=False)
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True, timeout=120,
                       check=False)
