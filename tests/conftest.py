"""Fixtures: phantom studies, real node processes and dcmtk peers."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from seganypet_node.db.engine import make_engine, make_session_factory
from seganypet_node.db.migrate import upgrade
from seganypet_node.phantom.generate import PhantomSpec, PhantomStudy, generate
from tests.support import (
    SHARED_DATA,
    NetNamespace,
    NodeProcess,
    find_dcmtk,
    free_port,
    unshare_available,
    write_config,
)

TEST_MATRIX = 64  # small rows/columns keep 300-slice series fast to make and send


@pytest.fixture(scope="session")
def dcmtk() -> None:
    """Skip when dcmtk's storescu/echoscu are not installed (the test command installs them)."""
    missing = [t for t in ("storescu", "echoscu") if find_dcmtk(t) is None]
    if missing:
        pytest.skip(f"dcmtk not installed ({', '.join(missing)}): apt-get install dcmtk")


@pytest.fixture(scope="session")
def make_phantom(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., PhantomStudy]:
    """Generate (once per session and spec) a phantom study."""
    made: dict[PhantomSpec, PhantomStudy] = {}

    def make(seed: int, **spec: Any) -> PhantomStudy:
        key = PhantomSpec(seed=seed, **{"matrix": TEST_MATRIX, **spec})
        if key not in made:
            made[key] = generate(key, tmp_path_factory.mktemp(f"phantom{seed}"))
        return made[key]

    return make


@pytest.fixture(scope="session")
def phantom_study(make_phantom: Callable[..., PhantomStudy]) -> PhantomStudy:
    """A 300-slice whole-body PET series."""
    return make_phantom(11)


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Start ``seganypet-node serve`` processes; every one is stopped by PID afterwards."""
    started: list[NodeProcess] = []

    def start(data_dir: Path | None = None, port: int | None = None,
              prefix: tuple[str, ...] = (), **sections: dict[str, Any]) -> NodeProcess:
        index = len(started)
        data = data_dir or tmp_path / f"node{index}"
        port = port or free_port()
        config = write_config(tmp_path / f"node{index}.toml", data, port, **sections)
        node = NodeProcess(config, data, port, tmp_path / f"node{index}.log", prefix)
        started.append(node)
        return node.start()

    yield start
    for node in started:
        node.kill()


@pytest.fixture
def netns() -> Iterator[NetNamespace]:
    """A private loopback-only network namespace (stopped by PID afterwards)."""
    if not unshare_available():
        pytest.skip("user and network namespaces are not available here (unshare -rn)")
    namespace = NetNamespace()
    yield namespace
    namespace.stop()


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """Session factory of a fresh, migrated SQLite database."""
    engine = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
    upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The project's shared public test data (skip cleanly when absent)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def body_volume() -> Any:
    """A whole-body phantom volume (SUV and labels, 380 slices of 160x160 at 4 mm)."""
    from seganypet_node.phantom.generate import generate_volume

    return generate_volume(PhantomSpec(seed=9200, slices=380, matrix=160))


@pytest.fixture(scope="session")
def default_atlas() -> Any:
    """The atlas the node ships in models/atlas."""
    from seganypet_node.atlas.assets import load_atlas
    from seganypet_node.config import resource_dir

    return load_atlas(resource_dir("models") / "atlas")


@pytest.fixture(scope="session")
def compact_pipeline(default_atlas: Any) -> Any:
    """The bundled compact network with the default atlas and all ten organs."""
    from seganypet_node.config import load_config
    from seganypet_node.pipeline import pipeline_from_config

    return pipeline_from_config(load_config(None, environ={}))


@pytest.fixture(scope="session")
def ohif_dist() -> Path:
    """OHIF's built viewer (``@ohif/app``, pinned), as scripts/install_viewer.sh unpacks it."""
    from tests.viewer.site import OHIF_DIST

    if not (OHIF_DIST / "index.html").is_file():
        pytest.skip(f"OHIF viewer not installed at {OHIF_DIST}: bash scripts/install_viewer.sh")
    return OHIF_DIST


@pytest.fixture(scope="session")
def headless_chromium() -> None:
    """Skip without Debian's chromium and chromium-driver (the test command installs them)."""
    from tests.viewer.drive import CHROMEDRIVER, CHROMIUM

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: apt-get install chromium chromium-driver")


@pytest.fixture(scope="session")
def dcmjs() -> Path:
    """The Node script that reads a SEG with dcmjs (its node_modules from npm ci)."""
    from tests.viewer.site import VIEWER_JS

    if shutil.which("node") is None or not (VIEWER_JS / "node_modules" / "dcmjs").is_dir():
        pytest.skip(f"node or dcmjs missing: (cd {VIEWER_JS} && npm ci)")
    return VIEWER_JS / "seg_labelmap.mjs"
