"""The ``seganypet-node`` command as an operator uses it."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from pathlib import Path

import pydicom
import pytest

from tests.support import acknowledged_files, cli, dcmtk_env, find_dcmtk, storescu

pytestmark = pytest.mark.integration


def test_bad_config_file_fails_at_start_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[node]\nport = 99999\n")
    result = cli("--config", str(config), "serve")
    assert result.returncode == 2
    assert "[node] port: expected an integer from 1 to 65535, got 99999" in result.stderr


def test_bad_environment_fails_at_start_naming_the_variable(tmp_path: Path) -> None:
    result = cli("serve", "--data-dir", str(tmp_path), env={"SEGANYPET_WORKER_COUNT": "lots"})
    assert result.returncode == 2
    assert "SEGANYPET_WORKER_COUNT: [worker] count: expected an integer" in result.stderr


def test_bad_command_line_value_is_reported(tmp_path: Path) -> None:
    result = cli("serve", "--data-dir", str(tmp_path), "--ae-title", "A" * 20)
    assert result.returncode == 2 and "[node] ae_title" in result.stderr


def test_db_upgrade_and_current(tmp_path: Path) -> None:
    upgraded = cli("--data-dir", str(tmp_path), "db", "upgrade")
    assert upgraded.returncode == 0 and "revision 0005" in upgraded.stdout
    current = cli("db", "current", "--data-dir", str(tmp_path))
    assert "database at revision 0005; code head 0005" in current.stdout
    assert (tmp_path / "node.db").is_file()


def test_phantom_command(tmp_path: Path) -> None:
    result = cli("phantom", "--seed", "3", "--out", str(tmp_path), "--slices", "200",
                 "--matrix", "32", "--lesions", "1")
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "dicom").glob("*.dcm"))) == 200
    assert (tmp_path / "labels.nii.gz").is_file()
    assert "lesion_1" in (tmp_path / "labels.json").read_text()


@pytest.mark.usefixtures("dcmtk")
def test_jobs_lists_series_and_job(start_node, phantom_study) -> None:
    node = start_node()
    assert storescu(node.port, phantom_study.dicom_dir).returncode == 0
    listing = cli("jobs", "--config", str(node.config_path))
    assert listing.returncode == 0
    assert "300/300" in listing.stdout and "pending" in listing.stdout
    rows = json.loads(cli("--config", str(node.config_path), "jobs", "--json").stdout)
    assert len(rows) == 1 and rows[0]["job_state"] == "pending"
    assert rows[0]["series_uid"] == phantom_study.identity.series_uid
    refused = cli("jobs", "--config", str(node.config_path), "--retry", str(rows[0]["job_id"]))
    assert refused.returncode == 1 and "is not failed: it is pending" in refused.stderr


@pytest.mark.usefixtures("dcmtk")
def test_sigterm_mid_transfer_stops_cleanly_and_keeps_what_was_acknowledged(
    start_node, phantom_study
) -> None:
    node = start_node(completion={"quiet_period_s": 3600})
    sender = subprocess.Popen(
        [find_dcmtk("storescu"), "-v", "-aec", "SEGANYPET", "+sd", "127.0.0.1", str(node.port),
         str(phantom_study.dicom_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dcmtk_env(),
    )
    try:
        spool = node.data_dir / "spool"
        while len(list(spool.rglob("*.dcm"))) < 50 and sender.poll() is None:
            time.sleep(0.01)
        node.process.send_signal(signal.SIGTERM)
        assert node.process.wait(timeout=60) == 0
        log, _ = sender.communicate(timeout=60)
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait()
    assert "stopped" in node.log()
    assert not list(spool.rglob("*.tmp"))
    stored = {p.name for p in spool.rglob("*.dcm")}
    for path in acknowledged_files(log):
        uid = pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
        assert f"{uid}.dcm" in stored
    assert node.counts()["instances"] == len(stored)


def test_model_command_describes_the_configured_checkpoint(tmp_path: Path) -> None:
    from seganypet_node.model import COMPACT, build_sam3d
    from seganypet_node.model.checkpoint import save_checkpoint

    path = tmp_path / "mine.pth"
    save_checkpoint(build_sam3d(COMPACT), path, {"note": "test"})
    result = cli("model", env={"SEGANYPET_MODEL_CHECKPOINT": str(path)})
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["checkpoint"] == str(path) and info["network"]["name"] == "seganypet_compact"
    assert info["device"] == "cpu" and info["parameters"] > 1_000_000
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert info["rel_pos_bias"] == "textbook"


def test_model_command_reports_a_broken_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "seganypet_v1.pth"
    path.write_bytes(b"\x80\x02truncated")
    result = cli("model", env={"SEGANYPET_MODEL_CHECKPOINT": str(path)})
    assert result.returncode == 1
    assert f"{path}: not a readable PyTorch checkpoint" in result.stderr
