import threading
import time

import pytest
from sqlalchemy import Connection, Engine, event, func, select, text
from sqlalchemy.exc import IntegrityError

from seganypet_node.db.engine import make_engine
from seganypet_node.db.group_commit import GroupCommitter


@pytest.fixture
def engine(tmp_path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'gc.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE item (name TEXT UNIQUE NOT NULL)"))
    yield engine
    engine.dispose()


def insert(name: str):
    def work(connection: Connection) -> str:
        connection.execute(text("INSERT INTO item (name) VALUES (:n)"), {"n": name})
        return name
    return work


def names(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(connection.scalars(text("SELECT name FROM item")))


def test_concurrent_callers_share_transactions_and_each_gets_its_result(engine) -> None:
    committer = GroupCommitter(engine)
    commits = []
    # Count transactions: fewer commits than units of work means they were grouped.
    event.listen(engine, "commit", lambda conn: commits.append(1))
    committer.start()
    results: dict[str, str] = {}
    barrier = threading.Barrier(8)

    def caller(k: int) -> None:
        barrier.wait()
        for n in range(25):
            results[f"{k}-{n}"] = committer.run(insert(f"{k}-{n}"))

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    committer.stop()
    assert results == {name: name for name in results} and len(results) == 200
    assert len(names(engine)) == 200
    assert len(commits) < 200


def test_failing_unit_fails_alone_and_others_commit(engine) -> None:
    committer = GroupCommitter(engine)
    committer.run(insert("taken"))
    committer.start()
    gate = threading.Event()
    outcomes: dict[str, object] = {}

    def blocker(connection: Connection) -> None:
        gate.wait(5)  # hold the writer so the next units queue up and share a batch

    def caller(name: str) -> None:
        try:
            outcomes[name] = committer.run(insert(name))
        except IntegrityError as exc:
            outcomes[name] = exc

    first = threading.Thread(target=committer.run, args=(blocker,))
    first.start()
    callers = [threading.Thread(target=caller, args=(n,)) for n in ("a", "taken", "b")]
    for thread in callers:
        thread.start()
    time.sleep(0.2)  # let the three queue behind the blocker
    gate.set()
    for thread in [first, *callers]:
        thread.join()
    committer.stop()
    assert outcomes["a"] == "a" and outcomes["b"] == "b"
    assert isinstance(outcomes["taken"], IntegrityError)
    assert names(engine) == ["a", "b", "taken"]


def test_work_runs_in_callers_transaction_when_not_started_or_stopped(engine) -> None:
    committer = GroupCommitter(engine)
    assert committer.run(insert("before")) == "before"
    committer.start()
    committer.stop()
    assert committer.run(insert("after")) == "after"
    assert names(engine) == ["after", "before"]


def test_error_in_work_reaches_caller_and_rolls_back(engine) -> None:
    committer = GroupCommitter(engine)
    committer.start()

    def half_done(connection: Connection) -> None:
        insert("half")(connection)
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        committer.run(half_done)
    committer.stop()
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(text("item"))) == 0


def test_max_batch_is_validated(engine) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        GroupCommitter(engine, max_batch=0)
