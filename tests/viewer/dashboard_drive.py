"""Drive the review service's dashboard in headless Chromium, as an operator would.

Run inside the test's network namespace::

    python -m tests.viewer.dashboard_drive PLAN.json OUT_DIR

PLAN names the service's URL, a user and password, the failed job, and a page of another
origin that posts a forged retry form. The driver tries a wrong password, logs in, finds the
failed job, opens the forged page, comes back, retries the job with the dashboard's button,
and logs out; it writes ``OUT_DIR/result.json`` (what each step showed) and screenshots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.viewer.drive import main, start_browser, wait


def job_state(browser: WebDriver, job_id: int) -> str | None:
    rows = browser.find_elements(By.CSS_SELECTOR, f'#series tr[data-job-id="{job_id}"]')
    return rows[0].find_element(By.CSS_SELECTOR, "td.state").text if rows else None


def log_in(browser: WebDriver, user: str, password: str) -> None:
    browser.find_element(By.ID, "user").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.ID, "submit").click()


def run(plan: dict[str, Any], out: Path) -> dict[str, Any]:
    browser = start_browser(out / "profile")
    result: dict[str, Any] = {"steps": []}
    job = plan["job_id"]
    try:
        browser.get(plan["url"] + "/")
        wait(lambda: "/login" in browser.current_url, 30, "the login page")
        log_in(browser, plan["user"], plan["password"] + "-wrong")
        result["wrong_password"] = wait(
            lambda: browser.find_element(By.ID, "message").text, 30, "the refusal")
        result["steps"].append("wrong password refused")

        log_in(browser, plan["user"], plan["password"])
        result["state_before"] = wait(lambda: job_state(browser, job), 60, "the failed job")
        result["who"] = browser.find_element(By.ID, "who").text
        browser.save_screenshot(str(out / "dashboard.png"))
        result["steps"].append("dashboard shown")

        browser.get(plan["forged_page"])
        wait(lambda: "/api/jobs/" in browser.current_url, 30, "the forged form posted")
        result["forged_response"] = browser.find_element(By.TAG_NAME, "body").text[:300]
        browser.get(plan["url"] + "/")
        result["state_after_forgery"] = wait(lambda: job_state(browser, job), 60, "the job")
        result["steps"].append("forged post tried")

        row = browser.find_element(By.CSS_SELECTOR, f'#series tr[data-job-id="{job}"]')
        row.find_element(By.CSS_SELECTOR, "button.retry").click()
        result["state_after_retry"] = wait(
            lambda: (s := job_state(browser, job)) != "failed" and s, 60, "the retried job")
        result["audit"] = browser.find_element(By.ID, "audit").text
        result["steps"].append("job retried")

        done = browser.find_element(By.CSS_SELECTOR,
                                    f'#series tr[data-job-id="{plan["done_job_id"]}"]')
        done.find_element(By.CSS_SELECTOR, "button.verify").click()
        result["verify_status"] = wait(
            lambda: (t := browser.find_element(By.ID, "status").text) != "queued again" and t,
            30, "the verification's answer")
        browser.save_screenshot(str(out / "dashboard_retried.png"))
        result["steps"].append("verify tried")

        browser.find_element(By.ID, "logout").click()
        wait(lambda: "/login" in browser.current_url, 30, "the login page after logout")
        browser.get(plan["url"] + "/")
        result["after_logout"] = browser.current_url
        result["steps"].append("logged out")
    except Exception as exc:  # the test reports what was reached
        result["error"] = f"{type(exc).__name__}: {exc}"
        browser.save_screenshot(str(out / "failure.png"))
    finally:
        browser.quit()
    return result


if __name__ == "__main__":
    main(run)
