from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from seganypet_node.db.engine import make_engine
from seganypet_node.db.migrate import current_revision, head_revision, upgrade
from seganypet_node.db.models import Base


def test_upgrade_creates_the_schema_the_models_describe(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    assert current_revision(engine) is None
    assert upgrade(engine) == head_revision(engine)
    assert upgrade(engine) == head_revision(engine)  # idempotent
    assert set(inspect(engine).get_table_names()) >= {
        "study", "series", "instance", "job", "outbound", "alembic_version"}
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_a_database_at_0001_upgrades_in_place_keeping_its_rows(tmp_path: Path) -> None:
    from alembic import command

    from seganypet_node.db.migrate import alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config(str(engine.url))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0001")
        connection.exec_driver_sql(
            "INSERT INTO study (study_uid, created_at) VALUES ('1.2.3', '2026-01-01 00:00:00')")
    assert current_revision(engine) == "0001"
    upgrade(engine)
    assert current_revision(engine) == head_revision(engine)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT study_uid FROM study").scalar() == "1.2.3"
    columns = {c["name"] for c in inspect(engine).get_columns("outbound")}
    assert {"next_attempt_at", "lease_owner", "lease_expires_at"} <= columns
