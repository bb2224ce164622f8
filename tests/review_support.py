"""A review service started by a test (``seganypet-node review``), its database seeded with a
failed job and a failed transfer, and an HTTP client that keeps the session cookie."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import update

from seganypet_node.db import jobs
from seganypet_node.db.engine import make_engine, make_session_factory
from seganypet_node.db.migrate import upgrade
from seganypet_node.db.models import Outbound
from seganypet_node.db.outbound import OutboundObject, enqueue
from seganypet_node.db.states import OutboundState
from seganypet_node.outputs.kinds import ObjectKind
from seganypet_node.settings_values import RemoteAE
from tests.support import cli, free_port, stop_process, wait_for, write_config
from tests.unit.test_ingest import T0, pet_header, record

USER, PASSWORD = "alice", "correct horse battery"
FULL_NAME, ORGANISATION = "Dr Alice Reader", "Nuclear Medicine, St Elsewhere"


def seed_failed_job(data_dir: Path) -> tuple[int, int]:
    """A complete 3-instance series whose job failed for good, with one failed transfer of a
    done job (without result files) beside it; the two jobs' ids."""
    engine = make_engine(f"sqlite:///{data_dir / 'node.db'}")
    upgrade(engine)
    sessions = make_session_factory(engine)
    for n in (1, 2, 3):
        failed = record(sessions, pet_header(n)).job_id
    for n in (1, 2, 3):
        done = record(sessions, pet_header(n, series="1.2.3.5")).job_id
    lease = dt.timedelta(minutes=5)
    with sessions.begin() as session:
        claimed = jobs.claim_next(session, "w1", lease, T0)
        assert claimed is not None and claimed.job_id == failed
        jobs.fail(session, claimed, "registration failed: no positive uptake", T0,
                  permanent=True)
        second = jobs.claim_next(session, "w1", lease, T0)
        assert second is not None and second.job_id == done
        jobs.finish(session, second, T0)
        enqueue(session, done, [OutboundObject(ObjectKind.SEG, "1.2.840.10008.5.1.4.1.1.66.4",
                                               "1.2.3.77", f"results/job-{done}/dicom/seg.dcm")],
                [RemoteAE("PACS", "127.0.0.1", 9)], T0)
        session.execute(update(Outbound).values(state=OutboundState.FAILED, attempts=5,
                                                last_error="association refused"))
    engine.dispose()
    return failed, done


@dataclass
class Browserless:
    """HTTP to the review service, keeping its session cookie like a browser would."""

    port: int
    cookie: str | None = None
    csrf: str | None = None
    last_headers: dict[str, str] = field(default_factory=dict)
    login_cookie: str = ""  # the Set-Cookie header of the last login

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = dict(headers or {})
        if self.cookie:
            sent["Cookie"] = f"seganypet_session={self.cookie}"
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        data = response.read()
        self.last_headers = {k.lower(): v for k, v in response.getheaders()}
        connection.close()
        return response.status, data

    def login(self, user: str = USER, password: str = PASSWORD,
              origin: str | None = None) -> int:
        form = urllib.parse.urlencode({"user": user, "password": password}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if origin:
            headers["Origin"] = origin
        status, _ = self.request("POST", "/login", form, headers)
        self.login_cookie = self.last_headers.get("set-cookie", "")
        found = re.search(r"seganypet_session=([^;]+)", self.login_cookie)
        if found:
            self.cookie = found.group(1)
            self.csrf = self.json("GET", "/api/session")[1]["csrf_token"]
        return status

    def json(self, method: str, path: str, payload: Any = None,
             csrf: str | None = "session") -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        if csrf == "session" and self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        elif csrf not in (None, "session"):
            headers["X-CSRF-Token"] = csrf
        status, data = self.request(method, path, body, headers)
        return status, json.loads(data) if data else None


@dataclass
class ReviewService:
    """``seganypet-node review`` on a free port over a seeded data directory."""

    data_dir: Path
    config: Path
    port: int
    failed_job: int
    done_job: int
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def prepared(cls, work: Path, session_minutes: float = 30.0) -> ReviewService:
        data_dir = work / "data"
        data_dir.mkdir(parents=True)
        failed, done = seed_failed_job(data_dir)
        port = free_port()
        config = write_config(work / "node.toml", data_dir, free_port(),
                              review={"enabled": True, "port": port,
                                      "session_minutes": session_minutes})
        add_test_user(config)
        return cls(data_dir, config, port, failed, done)

    def start(self, prefix: tuple[str, ...] = ()) -> ReviewService:
        log = (self.data_dir / "review.log").open("ab")
        self.process = subprocess.Popen(
            [*prefix, sys.executable, "-m", "seganypet_node", "--config", str(self.config),
             "review"], stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: b"review service on" in (self.data_dir / "review.log").read_bytes(),
                 60, "the review service listening", self.log, interval_s=0.1)
        return self

    def log(self) -> str:
        return (self.data_dir / "review.log").read_text(errors="replace")

    def client(self) -> Browserless:
        return Browserless(self.port)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return cli("--config", str(self.config), *args)

    def stop(self) -> None:
        stop_process(self.process)


def add_test_user(config: Path) -> None:
    """``seganypet-node user add`` of the test user for the node configured by ``config``."""
    added = subprocess.run(
        [sys.executable, "-m", "seganypet_node", "--config", str(config), "user", "add", USER,
         "--full-name", FULL_NAME, "--organisation", ORGANISATION, "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60, check=False)
    assert added.returncode == 0, added.stderr


def start_gated_node(start_node: Any, orthanc: Any, node_port: int, review_port: int) -> Any:
    """A node behind ``orthanc`` (its only caller and destination) whose review service holds
    results until a physician verifies them, with the test user."""
    node = start_node(
        port=node_port, prefix=orthanc.prefix, worker={"count": 1, "poll_interval_s": 0.2},
        access={"allowed_callers": [{"ae_title": orthanc.ae_title, "host": "127.0.0.1",
                                     "port": orthanc.dicom_port}]},
        send={"retry_initial_s": 0.5, "poll_interval_s": 0.2},
        review={"enabled": True, "port": review_port, "require_verification": True})
    add_test_user(node.config_path)
    return node


def drive_browser(prefix: tuple[str, ...], driver: str, plan: dict[str, Any], work: Path,
                  out: Path, timeout_s: float = 300) -> dict[str, Any]:
    """Run a ``tests.viewer`` driver module on ``plan`` inside ``prefix``'s namespace; what
    it wrote to ``out/result.json``."""
    (work / "plan.json").write_text(json.dumps(plan))
    drive = subprocess.run(
        [*prefix, sys.executable, "-m", f"tests.viewer.{driver}", str(work / "plan.json"),
         str(out)], capture_output=True, text=True, timeout=timeout_s, check=False)
    assert drive.returncode == 0, drive.stderr[-3000:]
    result: dict[str, Any] = json.loads((out / "result.json").read_text())
    return result


def verify_in(prefix: tuple[str, ...], port: int, job_id: int) -> tuple[int, Any]:
    """Log in as the test user and verify a job, from inside ``prefix``'s namespace; the
    answer's status and body, which also holds ``key_image``: the status, type and first
    bytes of the job's key image as a PNG."""
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "tests.review_support", "verify", str(port),
         str(job_id)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    status, body = json.loads(done.stdout)
    return status, body


if __name__ == "__main__":  # python -m tests.review_support verify PORT JOB_ID
    client = Browserless(int(sys.argv[2]))
    assert client.login() == 303, "login refused"
    job = int(sys.argv[3])
    picture_status, picture = client.request("GET", f"/api/jobs/{job}/key-image.png")
    picture_type = client.last_headers.get("content-type", "")
    answer_status, answer = client.json("POST", f"/api/jobs/{job}/verify")
    answer["key_image"] = [picture_status, picture_type, picture[:8].hex()]
    print(json.dumps([answer_status, answer]))
