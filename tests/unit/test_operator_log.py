"""The log an operator reads (issue 25): a line per stage and per organ with its time, the
libraries quiet unless asked, and a rotated file in the data directory."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from seganypet_node.config import load_config
from seganypet_node.logs import LIBRARIES, log_to_file, setup_logging
from seganypet_node.paths import UnusableDirectoryError
from seganypet_node.pipeline.run_log import StageLog, log_outcome
from seganypet_node.pipeline.timings import Stage
from tests.unit.test_summary_outputs import synthetic_result


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in LIBRARIES}
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def test_each_organ_and_stage_gets_a_line_with_its_time(caplog) -> None:
    result, _ = synthetic_result()
    timings = ((str(Stage.REGISTRATION), 1.25), (Stage.INFERENCE.of("liver"), 2.5),
               (str(Stage.WRITING), 0.5))
    result = dataclasses.replace(result, timings=timings)
    caplog.set_level(logging.INFO, "run")
    log_outcome(logging.getLogger("run"), "job 7", result)
    lines = [r.getMessage() for r in caplog.records]
    assert "job 7: registration and prompts 1.2 s" in lines
    assert "job 7: writing 0.5 s" in lines
    assert not any(line.startswith("job 7: inference") for line in lines)
    by_organ = {line.split(":")[1].strip(): line for line in lines if "found" in line}
    assert set(by_organ) == {o.organ for o in result.organs}
    assert by_organ["liver"].endswith("(inference 2.5 s)") and "found, " in by_organ["liver"]
    assert "None" not in " ".join(lines)
    missing = [o for o in result.organs if o.stats is None]
    for organ in missing:
        assert f"not found ({organ.reason})" in by_organ[organ.organ]


def test_progress_logs_each_stage_once_as_it_begins(caplog) -> None:
    caplog.set_level(logging.INFO, "run")
    progress = StageLog(logging.getLogger("run"), "job 3")
    for stage, done in (("registration", 0), ("inference liver", 1), ("inference liver", 1),
                        ("inference spleen", 2)):
        progress(stage, done, 10)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and lines[1].startswith("job 3: inference liver (1/10, ")
    assert lines[1].endswith(" s so far)")


@pytest.mark.usefixtures("restored_logging")
def test_libraries_log_at_warning_unless_asked() -> None:
    setup_logging("INFO")
    assert logging.getLogger("seganypet_node").isEnabledFor(logging.INFO)
    for name in LIBRARIES:
        chatty = logging.getLogger(f"{name}.anything")
        assert not chatty.isEnabledFor(logging.INFO) and chatty.isEnabledFor(logging.WARNING)
    setup_logging("INFO", "DEBUG")  # never below the node's own level
    assert logging.getLogger("highdicom").isEnabledFor(logging.INFO)
    assert not logging.getLogger("highdicom").isEnabledFor(logging.DEBUG)


@pytest.mark.usefixtures("restored_logging")
def test_the_log_file_is_written_and_rotated(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "node.log"
    setup_logging("INFO")
    log_to_file(path, max_bytes=2000, backups=2)
    for k in range(200):
        logging.getLogger("seganypet_node.test").info("line %d of the operator's log", k)
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["node.log", "node.log.1", "node.log.2"]
    assert "line 199 of the operator's log" in path.read_text()
    assert all(p.stat().st_size <= 2200 for p in path.parent.iterdir())


def test_an_unwritable_log_folder_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(UnusableDirectoryError, match=r"\[logging\] file"):
        log_to_file(blocker / "node.log", 1000, 1)


def test_a_log_file_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "node.log"
    path.mkdir(parents=True)  # a directory where the file should be: open() fails as for
    with pytest.raises(UnusableDirectoryError,  # a file owned by another user
                       match=r"\[logging\] file .*node.log cannot be opened for writing"):
        log_to_file(path, 1000, 1)


def test_the_log_file_lives_in_the_data_directory_by_default(tmp_path: Path) -> None:
    config = load_config(None, {}).with_overrides("node", data_dir=str(tmp_path))
    assert config.log_file == tmp_path / "logs" / "node.log"
    assert config.with_overrides("logging", file="").log_file is None


@pytest.mark.usefixtures("restored_logging")
def test_a_worker_process_writes_its_own_file_beside_the_nodes(tmp_path: Path) -> None:
    import socket

    from seganypet_node.bootstrap import start_log_file

    config = load_config(None, {}).with_overrides("node", data_dir=str(tmp_path))
    start_log_file(config, "worker")
    logging.getLogger("seganypet_node.test").warning("from the worker")
    worker_log = tmp_path / "logs" / f"node-worker-{socket.gethostname()}.log"
    assert "from the worker" in worker_log.read_text()
    assert not (tmp_path / "logs" / "node.log").exists()
