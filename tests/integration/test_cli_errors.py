"""An administrator's mistakes get one line that says what is wrong and what to do (issue 25):
a data directory in the way, a port already taken, an unwritable ``--out``, a closed pipe."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from seganypet_node import __version__
from tests.support import cli

pytestmark = pytest.mark.integration


def _messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("seganypet-node:")]


def test_version() -> None:
    shown = cli("--version")
    assert shown.returncode == 0 and shown.stdout.strip() == f"seganypet-node {__version__}"


def test_a_data_dir_that_cannot_be_made_is_named_before_the_database_is_opened(
        tmp_path) -> None:
    """Before: 118 lines of traceback ending in ``unable to open database file``."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for data_dir, words in ((blocker, "is a file, not a directory"),
                            (blocker / "data", "cannot be used")):
        listing = cli("jobs", "--data-dir", str(data_dir))
        assert listing.returncode == 1
        assert "Traceback" not in listing.stderr
        assert _messages(listing.stderr) == [_messages(listing.stderr)[0]]
        assert f"[node] data_dir (--data-dir) {data_dir}" in listing.stderr
        assert words in listing.stderr


def test_a_port_in_use_is_one_line_and_the_node_exits(tmp_path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        served = cli("serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir",
                     str(tmp_path / "data"), timeout_s=60)
    assert served.returncode == 1
    assert "Traceback" not in served.stderr
    assert _messages(served.stderr) == [
        f"seganypet-node: cannot listen on 127.0.0.1:{port} (Address already in use): another "
        f"program holds the port or it needs privileges; choose another [node] port (--port)"]


def test_segment_checks_its_output_folder_before_any_work(tmp_path) -> None:
    """Before: the whole segmentation ran first (143 s), then the write failed."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = cli("segment", str(tmp_path / "no-such-series"), "--out", str(blocker / "out"))
    assert run.returncode == 1
    assert "reading" not in run.stderr  # nothing was read
    assert _messages(run.stderr)[0].startswith(f"seganypet-node: --out {blocker / 'out'} "
                                               f"cannot be used")


def test_a_reader_that_stops_early_is_no_error(phantom_study) -> None:
    """``suv --per-instance DIR | head -1``: before, a BrokenPipeError traceback.

    ``--per-instance`` (three lines per instance of the 300) writes more than a pipe holds;
    the default summary is too short to meet a closed pipe.
    """
    pipeline = subprocess.run(
        f"{sys.executable} -m seganypet_node suv --per-instance {phantom_study.dicom_dir} "
        "| head -1",
        shell=True, capture_output=True, text=True, timeout=120, check=False)
    assert pipeline.stdout.count("\n") == 1
    assert "Traceback" not in pipeline.stderr and "BrokenPipe" not in pipeline.stderr


def test_read_only_commands_print_no_info_lines(tmp_path) -> None:
    """Before: each opened the database with an INFO line about the schema revision."""
    data_dir = str(tmp_path / "data")
    for command in (("jobs",), ("send",), ("check",), ("db", "current")):
        ran = cli(*command, "--data-dir", data_dir)
        assert ran.returncode == 0, ran.stderr
        assert " INFO " not in ran.stderr and "alembic" not in ran.stderr, (command, ran.stderr)
    assert not (tmp_path / "data" / "logs").exists()  # only serve and worker write the file


@pytest.mark.parametrize("case", ["missing", "2-D NIfTI", "Bq/ml NIfTI"])
def test_segment_input_that_cannot_be_used_is_one_line_before_any_model_loads(
        tmp_path, case) -> None:
    import numpy as np
    import SimpleITK as sitk

    path = tmp_path / "no-such-study"
    if case != "missing":
        path = tmp_path / "pet.nii.gz"
        values = np.ones((64, 48)) if case == "2-D NIfTI" else np.full((20, 16, 12), 8000.0)
        sitk.WriteImage(sitk.GetImageFromArray(values.astype(np.float32)), str(path))
    run = cli("segment", str(path), "--out", str(tmp_path / "out"))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    words = {"missing": "does not exist: give a folder or files of one PET series",
             "2-D NIfTI": "is a 2-D image (48 x 64 voxels); segment needs one 3-D PET volume",
             "Bq/ml NIfTI": "cannot be SUVbw; NIfTI input must already be in SUVbw"}[case]
    assert len(_messages(run.stderr)) == 1 and words in _messages(run.stderr)[0], run.stderr
    assert "loading" not in run.stderr.lower()


def test_a_database_that_does_not_answer_is_one_line_without_its_password(tmp_path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for url, words in ((f"postgresql+psycopg2://node:s3cret@127.0.0.1:{port}/node",
                        "cannot open the database at postgresql+psycopg2://node:***@"),
                       ("postgresql+nosuchdriver://node@127.0.0.1/node", "no database driver")):
        for command in (("jobs",), ("db", "current")):
            ran = cli(*command, env={"SEGANYPET_DATABASE_URL": url})
            assert ran.returncode == 1 and "Traceback" not in ran.stderr, ran.stderr
            assert len(_messages(ran.stderr)) == 1 and words in ran.stderr, ran.stderr
            assert "s3cret" not in ran.stderr and "[database] url" in ran.stderr


def test_an_empty_database_has_no_revision_rather_than_none(tmp_path) -> None:
    shown = cli("db", "current", "--data-dir", str(tmp_path / "data"))
    assert shown.returncode == 0 and "None" not in shown.stdout
    assert shown.stdout.startswith("database at revision none (empty")
