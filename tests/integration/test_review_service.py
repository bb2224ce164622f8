"""The review service over real HTTP: who may log in, what a session may do, the audit log.

Each test starts ``seganypet-node review`` (uvicorn) on a free 127.0.0.1 port over a data
directory with a failed job and a failed transfer, and stops it by PID.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.review_support import FULL_NAME, PASSWORD, USER, ReviewService, drive_browser
from tests.support import NodeProcess, cli, free_port, stop_process, write_config

pytestmark = pytest.mark.integration


@pytest.fixture
def review(tmp_path: Path) -> Iterator[ReviewService]:
    service = ReviewService.prepared(tmp_path).start()
    yield service
    service.stop()


def test_nothing_but_the_login_page_without_a_login(review) -> None:
    client = review.client()
    status, _ = client.request("GET", "/")
    assert status == 303 and client.last_headers["location"] == "/login"
    for path in ("/api/series", "/api/transfers", "/api/audit", "/api/session",
                 f"/api/jobs/{review.done_job}/review",
                 f"/api/jobs/{review.done_job}/review/picture.png?plane=mip"):
        status, body = client.json("GET", path)
        assert status == 401, path
        assert "2.3.1" not in str(body)  # no UID of the seeded study
    status, page = client.request("GET", "/login")
    assert status == 200 and b'name="password"' in page
    assert "default-src 'self'" in client.last_headers["content-security-policy"]


def test_a_wrong_password_or_an_unknown_user_is_refused_and_logged(review) -> None:
    client = review.client()
    assert client.login(USER, PASSWORD + "x") == 401 and client.cookie is None
    assert client.login("mallory", PASSWORD) == 401 and client.cookie is None
    assert client.login("\x1b[2Jroot\x07", PASSWORD) == 401  # terminal escapes
    assert client.login() == 303 and client.cookie
    status, entries = client.json("GET", "/api/audit")
    assert status == 200
    assert [(e["user_name"], e["action"], e["detail"]) for e in entries[:4]] == [
        (USER, "login", ""), ("[2Jroot", "login_refused", "unknown user"),
        ("mallory", "login_refused", "unknown user"),
        (USER, "login_refused", "wrong password")]


def test_the_session_cookie_cannot_be_read_by_scripts_or_sent_cross_site(review) -> None:
    client = review.client()
    client.login()
    cookie = client.login_cookie.lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    status, session = client.json("GET", "/api/session")
    assert status == 200 and session["full_name"] == FULL_NAME
    assert client.last_headers["cache-control"] == "no-store"


def test_the_dashboard_lists_series_jobs_and_transfers(review) -> None:
    client = review.client()
    client.login()
    status, page = client.request("GET", "/")
    assert status == 200 and FULL_NAME.encode() in page and b"dashboard.js" in page
    status, rows = client.json("GET", "/api/series")
    assert status == 200
    failed = next(r for r in rows if r["job_id"] == review.failed_job)
    assert failed["job_state"] == "failed" and failed["received"] == 3
    assert failed["last_error"].startswith("registration failed")
    assert [r["job_id"] for r in client.json("GET", "/api/series?job_state=failed")[1]] == [
        review.failed_job]
    status, transfers = client.json("GET", "/api/transfers?state=failed")
    assert status == 200 and [t["state"] for t in transfers] == ["failed"]
    assert transfers[0]["destination"] == "PACS@127.0.0.1:9"
    status, _ = client.request("GET", "/static/dashboard.js")
    assert status == 200


def test_a_forged_post_without_the_csrf_token_changes_nothing(review) -> None:
    client = review.client()
    client.login()
    path = f"/api/jobs/{review.failed_job}/retry"
    assert client.json("POST", path, csrf=None)[0] == 403
    assert client.json("POST", path, csrf="forged-token")[0] == 403
    assert client.json("POST", "/api/transfers/retry", {"ids": []}, csrf=None)[0] == 403
    review_path = f"/api/jobs/{review.done_job}/review"
    assert client.json("POST", review_path, csrf=None)[0] == 403
    assert client.json("POST", review_path + "/steps", {"action": "undo"}, csrf=None)[0] == 403
    status, rows = client.json("GET", "/api/series?job_state=failed")
    assert status == 200 and [r["job_id"] for r in rows] == [review.failed_job]  # still failed
    # A login form posted from another site's page is refused too (login CSRF).
    other = review.client()
    assert other.login(origin="https://evil.example") == 403 and other.cookie is None


def test_retrying_a_failed_job_and_transfers_is_done_and_audited(review) -> None:
    client = review.client()
    client.login()
    status, done = client.json("POST", f"/api/jobs/{review.failed_job}/retry")
    assert status == 200 and done["job_id"] == review.failed_job
    row = next(r for r in client.json("GET", "/api/series")[1]
               if r["job_id"] == review.failed_job)
    assert row["job_state"] == "pending"  # with a fresh attempt budget, as `jobs --retry`
    status, again = client.json("POST", f"/api/jobs/{review.failed_job}/retry")
    assert status == 409 and "is not failed: it is pending" in again["detail"]
    status, transfers = client.json("POST", "/api/transfers/retry", {"ids": []})
    assert status == 200 and transfers["transfers"] == 1
    listed = review.cli("audit", "--job", str(review.failed_job))
    assert listed.returncode == 0
    assert f"{USER}" in listed.stdout and "job_retried" in listed.stdout
    everything = review.cli("audit")
    assert "transfers_retried" in everything.stdout and "1 transfer(s): all failed" in \
        everything.stdout


def test_logout_ends_the_session(review) -> None:
    client = review.client()
    client.login()
    status, _ = client.request("POST", "/logout", headers={"X-CSRF-Token": client.csrf or ""})
    assert status == 204
    assert client.json("GET", "/api/session")[0] == 401


def test_an_idle_session_expires(tmp_path) -> None:
    service = ReviewService.prepared(tmp_path, session_minutes=0.05).start()  # 3 s
    try:
        client = service.client()
        client.login()
        assert client.json("GET", "/api/session")[0] == 200
        time.sleep(4.5)
        assert client.json("GET", "/api/session")[0] == 401
        assert client.json("POST", f"/api/jobs/{service.failed_job}/retry")[0] == 401
    finally:
        service.stop()


def test_serve_starts_the_review_service_and_a_taken_port_is_one_line(tmp_path) -> None:
    review_port = free_port()
    config = write_config(tmp_path / "node.toml", tmp_path / "data", free_port(),
                          review={"enabled": True, "port": review_port})
    node = NodeProcess(config, tmp_path / "data", 0, tmp_path / "node.log").start()
    try:
        with socket.create_connection(("127.0.0.1", review_port), timeout=10):
            pass
        taken = cli("--config", str(config), "serve", "--port", str(free_port()),
                    "--data-dir", str(tmp_path / "other"), timeout_s=60)
    finally:
        node.stop()
    assert taken.returncode == 1 and "Traceback" not in taken.stderr
    assert (f"cannot listen on 127.0.0.1:{review_port} (Address already in use) for the "
            f"review service") in taken.stderr
    assert "[review] port" in taken.stderr


def test_user_add_refuses_a_short_password_and_a_taken_name(tmp_path) -> None:
    service = ReviewService.prepared(tmp_path)

    def add(name: str, password: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "seganypet_node", "--config", str(service.config), "user",
             "add", name, "--password-stdin"], input=password + "\n", capture_output=True,
            text=True, timeout=60, check=False)

    short = add("bob", "short")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    taken = add(USER, "another long password")
    assert taken.returncode != 0 and f"user {USER!r} exists already" in taken.stderr
    listed = service.cli("user", "list")
    assert listed.stdout.split()[0] == USER and "$argon2" not in listed.stdout


FORGED_PAGE = """<!doctype html>
<html><head><title>attacker</title></head>
<body onload="document.forms[0].submit()">
<form method="post" action="{target}"><input name="x" value="1"></form>
</body></html>
"""


@pytest.mark.usefixtures("headless_chromium")
def test_an_operator_logs_in_and_retries_a_failed_job_in_a_browser(netns, tmp_path) -> None:
    """Headless Chromium: wrong password, login, dashboard, a forged cross-origin form post
    that must change nothing, the retry button, the verify button, logout; screenshots for
    the README."""
    service = ReviewService.prepared(tmp_path).start(netns.enter())
    forged = tmp_path / "attacker"
    forged.mkdir()
    target = f"http://127.0.0.1:{service.port}/api/jobs/{service.failed_job}/retry"
    (forged / "forged.html").write_text(FORGED_PAGE.format(target=target))
    attacker_port = free_port()
    attacker = subprocess.Popen(
        [*netns.enter(), sys.executable, "-m", "http.server", str(attacker_port), "--bind",
         "127.0.0.1", "--directory", str(forged)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shots = tmp_path / "browser"
    plan = {"url": f"http://127.0.0.1:{service.port}", "user": USER, "password": PASSWORD,
            "job_id": service.failed_job, "done_job_id": service.done_job,
            "forged_page": f"http://127.0.0.1:{attacker_port}/forged.html"}
    try:
        result = drive_browser(netns.enter(), "dashboard_drive", plan, tmp_path, shots)
    finally:
        stop_process(attacker)
        service.stop()
    assert "error" not in result, (result.get("error"), result["steps"])
    assert result["wrong_password"] == "wrong user name or password"
    assert FULL_NAME in result["who"] and result["state_before"] == "failed"
    assert "X-CSRF-Token header is missing" in result["forged_response"]
    assert result["state_after_forgery"] == "failed"
    assert result["state_after_retry"] == "pending"
    assert "job_retried" in result["audit"] and USER in result["audit"]
    # The seeded done job has no result files: the button's answer says so.
    assert result["verify_status"] == (f"refused: job {service.done_job} has no automatic "
                                       f"report to verify")
    assert result["after_logout"].endswith("/login")
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":  # as test_viewer.py
        docs = Path(__file__).resolve().parents[2] / "docs"
        shutil.copy(shots / "dashboard_retried.png", docs / "review_dashboard.png")


def test_verification_needs_a_token_a_done_job_and_its_report(review) -> None:
    client = review.client()
    assert client.request("GET", f"/api/jobs/{review.done_job}/key-image.png")[0] == 401
    client.login()
    done = f"/api/jobs/{review.done_job}/verify"
    assert client.json("POST", done, csrf=None)[0] == 403
    status, refused = client.json("POST", f"/api/jobs/{review.failed_job}/verify")
    assert status == 409 and "only done results can be verified" in refused["detail"]
    status, missing = client.json("POST", done)
    assert status == 409 and "has no automatic report" in missing["detail"]
    row = next(r for r in client.json("GET", "/api/series")[1]
               if r["job_id"] == review.done_job)
    assert row["verified_by"] is None  # nothing recorded for a refused verification
    assert client.request("GET", f"/api/jobs/{review.done_job}/key-image.png")[0] == 404
    # A study is opened for review only when done, and with results to read back.
    status, refused = client.json("POST", f"/api/jobs/{review.failed_job}/review")
    assert status == 409 and "only done results can be reviewed" in refused["detail"]
    status, missing = client.json("POST", f"/api/jobs/{review.done_job}/review")
    assert status == 409 and "cannot be read" in missing["detail"]
    assert client.json("GET", f"/api/jobs/{review.done_job}/review")[0] == 404
