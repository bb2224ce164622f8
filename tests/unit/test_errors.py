"""One error model: every expected failure is a NodeError, printed once by the command line
with its exit code, and failed or retried by the worker by its ``permanent`` flag."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import seganypet_node
from seganypet_node import worker as worker_module
from seganypet_node.atlas.register import RegistrationError
from seganypet_node.config import ConfigError, load_config
from seganypet_node.db.states import JobState
from seganypet_node.errors import EXIT_RUNTIME, EXIT_USAGE, NodeError
from seganypet_node.imaging.pet import SeriesError
from seganypet_node.model.checkpoint import CheckpointError
from seganypet_node.worker import JobWorker
from tests.support import cli
from tests.unit.test_ingest import pet_header, record
from tests.unit.test_jobs import job_row


def _error_classes() -> list[type[BaseException]]:
    """Every exception class defined in the package (importing each module)."""
    found = []
    for info in pkgutil.walk_packages(seganypet_node.__path__, "seganypet_node."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        found += [c for _, c in inspect.getmembers(module, inspect.isclass)
                  if issubclass(c, BaseException) and c.__module__ == info.name]
    return found


# Control flow inside one part, never shown as a command's message or recorded on a job:
# a lost lease, a job interrupted by shutdown (handed back, not failed), and the C-STORE
# outcomes the DICOM service answers as statuses.
INTERNAL = {"LeaseLostError", "JobInterrupted", "ContentConflictError", "InstanceRejected"}


def test_every_expected_failure_of_the_package_is_a_node_error() -> None:
    classes = _error_classes()
    assert len(classes) >= 10
    outside = sorted(c.__name__ for c in classes
                     if not issubclass(c, NodeError) and c.__name__ not in INTERNAL)
    assert outside == []
    for c in classes:
        if issubclass(c, NodeError):
            assert c.exit_code in (EXIT_RUNTIME, EXIT_USAGE), c
    assert ConfigError.exit_code == EXIT_USAGE
    # Deterministic failures: another attempt would fail the same way.
    assert RegistrationError.permanent and CheckpointError.permanent and SeriesError.permanent


@pytest.fixture
def job(sessions) -> int:
    for n in (1, 2, 3):
        result = record(sessions, pet_header(n))
    return result.job_id


def _worker_failing_with(sessions, tmp_path, monkeypatch, error: BaseException) -> JobWorker:
    def fail(files: object) -> None:
        raise error

    monkeypatch.setattr(worker_module, "read_pet_series", fail)
    config = load_config(None).with_overrides("node", data_dir=str(tmp_path))
    return JobWorker(config, sessions)


class _Transient(NodeError):
    permanent = False


@pytest.mark.parametrize(("error", "state", "note"), [
    (RegistrationError("registration to the atlas failed: body overlap 0.41"),
     JobState.FAILED, "body overlap 0.41"),
    (CheckpointError("models/x.pth: not a checkpoint"), JobState.FAILED, "not a checkpoint"),
    (_Transient("the archive is busy"), JobState.PENDING, "the archive is busy"),
    (OSError(28, "No space left on device"), JobState.PENDING, "internal error: OSError"),
])
def test_the_worker_retries_only_what_may_succeed_next_time(
        sessions, tmp_path, monkeypatch, job, error, state, note) -> None:
    """Before, a RegistrationError (same input, same seed) and a CheckpointError were
    retried until the attempts ran out."""
    worker = _worker_failing_with(sessions, tmp_path, monkeypatch, error)
    assert worker.run_once() is state
    row = job_row(sessions, job)
    assert row.state is state and row.attempts == 1
    assert note in (row.last_error or "")


def test_commands_print_one_line_and_exit_with_the_errors_code(tmp_path) -> None:
    data = ("--data-dir", str(tmp_path / "data"))
    missing = cli("jobs", *data, "--retry", "424242")
    assert missing.returncode == EXIT_RUNTIME
    assert "Traceback" not in missing.stderr
    assert _message_lines(missing.stderr) == [
        "seganypet-node: job 424242 does not exist (`jobs` lists them)"]
    usage = cli("phantom", "--seed", "1", "--out", str(tmp_path / "p"), "--findings", "gills")
    assert usage.returncode == EXIT_USAGE
    assert usage.stderr.strip() == ("seganypet-node: unknown --findings gills; known: bowel, "
                                    "ureters, catheter, muscle, brown_fat, injection, "
                                    "hyperglycaemia")
    empty = cli("atlas", "build", "--out", str(tmp_path / "a"))
    assert empty.returncode == EXIT_USAGE
    assert empty.stderr.strip() == "seganypet-node: give case folders or --phantoms N"
    bad = cli("--config", str(_bad_config(tmp_path)), "jobs")
    assert bad.returncode == EXIT_USAGE
    assert bad.stderr.startswith("seganypet-node: configuration error: ")


def _message_lines(stderr: str) -> list[str]:
    """The command's own lines (log records carry a timestamp and a level)."""
    return [line for line in stderr.splitlines() if line.startswith("seganypet-node:")]


def _bad_config(tmp_path):
    path = tmp_path / "node.toml"
    path.write_text("[worker]\ncount = -3\n")
    return path
