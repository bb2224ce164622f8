"""A throwaway PostgreSQL cluster for tests: initdb in a temp dir, its own port on 127.0.0.1.

Debian's server binaries refuse to run as root; when the tests run as root the cluster runs as
the ``postgres`` system user (``runuser``), in a directory of its own directly under the
temp dir (pytest's ``tmp_path`` is private to root, so postgres could not reach into it).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support import free_port


def postgres_bin() -> Path | None:
    """Folder of the newest installed PostgreSQL server binaries, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresCluster:
    """initdb, start, stop and restart one cluster; :attr:`url` for SQLAlchemy.

    Its data, socket and log live in a fresh temp dir that :meth:`remove` deletes.
    """

    def __init__(self) -> None:
        binaries = postgres_bin()
        assert binaries, "PostgreSQL server binaries not installed"
        self.bin = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="seganypet-pg-"))
        folder = self.folder
        self.data = folder / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/seganypet"
        self._as_user: tuple[str, ...] = ()
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
            self._as_user = ("runuser", "-u", "postgres", "--")

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self._as_user, str(self.bin / tool), *args],
                              capture_output=True, text=True, check=False, timeout=120)

    def start(self) -> PostgresCluster:
        if not self.data.exists():
            done = self._run("initdb", "-D", str(self.data), "-U", "postgres",
                             "--auth=trust", "--no-sync", "-E", "UTF8")
            assert done.returncode == 0, done.stderr
        options = (f"-h 127.0.0.1 -p {self.port} -k {self.folder} -c fsync=on "
                   "-c max_connections=100")
        done = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "pg.log"),
                         "-o", options, "-w", "-t", "60", "start")
        assert done.returncode == 0, done.stderr + self.log()
        self._ensure_database()
        return self

    def _ensure_database(self) -> None:
        for _ in range(50):
            done = self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                             "-tAc", "SELECT 1 FROM pg_database WHERE datname = 'seganypet'")
            if done.returncode == 0:
                if done.stdout.strip() != "1":
                    made = self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port),
                                     "-U", "postgres", "seganypet")
                    assert made.returncode == 0, made.stderr
                return
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL not answering:\n{self.log()}")

    def stop(self) -> None:
        """Fast shutdown by the postmaster's PID (pg_ctl, else SIGKILL); safe to call twice."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return
        pid = int(pid_file.read_text().split()[0])
        if self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop").returncode:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def remove(self) -> None:
        """Stop the cluster and delete its folder."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.folder / "pg.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""
