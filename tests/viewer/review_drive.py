"""Drive the physician's review page in headless Chromium, as a reader would.

Run inside the test's network namespace::

    python -m tests.viewer.review_drive PLAN.json OUT_DIR

PLAN names the service's URL, a user and password, the job, and three corrections worked out
from the phantom's ground truth: the lesion to reject, the voxel [z, y, x] of a missed lesion,
and an organ with the voxel of its largest excess. The driver logs in, opens the job from the
dashboard's "review" link, rejects the lesion, adds the missed one with one click, fixes the
organ with one negative click, verifies, and writes ``OUT_DIR/result.json`` and screenshots.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.viewer.dashboard_drive import log_in
from tests.viewer.drive import main, start_browser, wait

SET_AXIAL = """
const slider = document.getElementById("slice-axial");
slider.value = arguments[0];
slider.dispatchEvent(new Event("input"));
"""
PICTURE_READY = """
const img = document.getElementById("pic-axial");
return img.complete && img.naturalWidth > 0 && img.src.includes("index=" + arguments[0] + "&");
"""


def status_after(browser: WebDriver, before: str, what: str) -> str:
    """The status line once it says something new (not "working...")."""
    def changed() -> str | None:
        text = browser.find_element(By.ID, "status").text
        return text if text and text != before and not text.startswith("working") else None
    return wait(changed, 120, what)


def select_finding(browser: WebDriver, key: str) -> None:
    browser.find_element(By.CSS_SELECTOR, f'#findings tr[data-key="{key}"]').click()
    wait(lambda: "selected" in browser.find_element(
        By.CSS_SELECTOR, f'#findings tr[data-key="{key}"]').get_attribute("class"), 30, key)


def click_axial(browser: WebDriver, voxel: list[int], shape: list[int]) -> None:
    """Click the axial picture at voxel [z, y, x] (axial pictures are not flipped)."""
    z, y, x = voxel
    browser.execute_script(SET_AXIAL, z)
    wait(lambda: browser.execute_script(PICTURE_READY, z), 30, f"axial slice {z}")
    picture = browser.find_element(By.ID, "pic-axial")
    width, height = picture.size["width"], picture.size["height"]
    dx = (x + 0.5) / shape[2] * width - width / 2
    dy = (y + 0.5) / shape[1] * height - height / 2
    ActionChains(browser).move_to_element_with_offset(picture, round(dx), round(dy)) \
        .click().perform()


def choose_mode(browser: WebDriver, mode: str) -> None:
    browser.find_element(By.ID, f"mode-{mode}").click()


def run(plan: dict[str, Any], out: Path) -> dict[str, Any]:
    browser = start_browser(out / "profile")
    browser.set_window_size(1700, 1300)
    result: dict[str, Any] = {"steps": []}
    job = plan["job_id"]
    try:
        browser.get(plan["url"] + "/")
        log_in(browser, plan["user"], plan["password"])
        link = wait(lambda: browser.find_element(
            By.CSS_SELECTOR, f'#series tr[data-job-id="{job}"] a.review'), 60, "the review link")
        link.click()
        wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#findings tbody tr"), 180,
             "the findings")
        result["findings"] = [row.get_attribute("data-key") for row in
                              browser.find_elements(By.CSS_SELECTOR, "#findings tbody tr")]
        shape = browser.execute_script("return state.shape_zyx")
        wait(lambda: browser.find_element(By.ID, "warming").text == "ready", 180,
             "the network ready")
        result["steps"].append("review page open")

        select_finding(browser, plan["reject"])
        before = browser.find_element(By.ID, "status").text
        browser.find_element(By.ID, "reject").click()
        result["reject_status"] = status_after(browser, before, "the rejection")
        result["steps"].append("lesion rejected")

        choose_mode(browser, "add-lesion")
        before = browser.find_element(By.ID, "status").text
        click_axial(browser, plan["missed_lesion_zyx"], shape)
        result["add_status"] = status_after(browser, before, "the added lesion")
        result["steps"].append("lesion added")

        select_finding(browser, plan["organ"])
        choose_mode(browser, "negative")
        before = browser.find_element(By.ID, "status").text
        click_axial(browser, plan["organ_excess_zyx"], shape)
        result["negative_status"] = status_after(browser, before, "the negative click")
        result["steps"].append("organ corrected")
        result["rows"] = browser.execute_script(
            "return state.findings.map(f => [f.key, f.name, f.status, f.added])")
        browser.save_screenshot(str(out / "review_page.png"))

        before = browser.find_element(By.ID, "status").text
        browser.find_element(By.ID, "verify").click()
        result["verify_status"] = status_after(browser, before, "the verification")
        result["steps"].append("verified")
    except Exception as exc:  # reported to the test with the steps reached
        result["error"] = f"{type(exc).__name__}: {exc}"
        browser.save_screenshot(str(out / "failure.png"))
        result["page_text"] = browser.find_element(By.TAG_NAME, "body").text[:3000]
    finally:
        browser.quit()
    return result


if __name__ == "__main__":
    main(run)
