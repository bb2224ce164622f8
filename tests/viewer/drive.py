"""Drive OHIF in headless Chromium through the study the node answered, as a reader would.

Run inside the test's network namespace (the viewer and Orthanc listen only there)::

    python -m tests.viewer.drive PLAN.json OUT_DIR

PLAN names the viewer URL, the study, the PET instance to show and world points (patient
coordinates, mm) inside organs and outside the body. The driver opens the study, shows that PET
slice, screenshots it, loads the SEG as a user does (double-click its series, answer "Yes"),
shows the same slice again and screenshots it, then opens the key image and the SR. It writes
``OUT_DIR/result.json`` with what the page said (segment names in OHIF's state and in its
segmentation panel, segment colours, where each world point lies on the page) and the
screenshots; the test judges them.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = "/usr/bin/chromium"  # Debian chromium
CHROMEDRIVER = "/usr/bin/chromedriver"  # Debian chromium-driver
# The flags the issue asks for, plus ANGLE's software WebGL: cornerstone renders with WebGL2 and
# Chromium no longer falls back to SwiftShader on its own.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--window-size=1600,1000",
         "--force-device-scale-factor=1")
T = TypeVar("T")

# Every script below starts from the viewport that shows the PET stack.
STACK_VIEWPORT = """
const viewport = window.cornerstone.getRenderingEngines()[0].getViewports()
  .find(v => v.getImageIds && v.getImageIds().length > 1);
"""
SHOW_INSTANCE = STACK_VIEWPORT + """
const index = viewport.getImageIds().findIndex(id => id.includes(arguments[0]));
if (index < 0) return -1;
viewport.setImageIdIndex(index);
viewport.render();
return index;
"""
# Page coordinates of world points, from cornerstone's own camera (what it drew is where it
# says it drew it), and the canvas the viewport draws into.
PAGE_POINTS = STACK_VIEWPORT + """
const rect = viewport.canvas.getBoundingClientRect();
return arguments[0].map(p => {
  const [x, y] = viewport.worldToCanvas(p);
  return [rect.left + x, rect.top + y];
});
"""
SEGMENTATIONS = STACK_VIEWPORT + """
const tools = window.cornerstoneTools;
return tools.segmentation.state.getSegmentations().map(s => ({
  label: s.label,
  at_points: arguments[0].map(p => tools.utilities.segmentation.getSegmentIndexAtWorldPoint(
    s.segmentationId, p, {viewport}) || 0),
  segments: Object.entries(s.segments).map(([index, segment]) => ({
    index: Number(index), label: segment.label,
    color: tools.segmentation.config.color.getSegmentIndexColor(
      viewport.id, s.segmentationId, Number(index)),
  })),
}));
"""

# Page coordinates of the first and last pixel centres of the image shown (arguments[0]: its
# SOP Instance UID; null while the viewport shows another).
IMAGE_CORNERS = """
const viewport = window.cornerstone.getRenderingEngines()[0].getViewports()[0];
if (!(viewport.getCurrentImageId() || "").includes(arguments[0])) return null;
const data = viewport.getImageData();
const [columns, rows] = data.dimensions;
const rect = viewport.canvas.getBoundingClientRect();
return [[0, 0, 0], [columns - 1, rows - 1, 0]].map(index => {
  const [x, y] = viewport.worldToCanvas(data.imageData.indexToWorld(index));
  return [rect.left + x, rect.top + y];
});
"""


def start_browser(profile: Path) -> WebDriver:
    """Headless Chromium with an empty profile, driven over chromedriver."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def wait(condition: Callable[[], T | None], timeout_s: float, what: str) -> T:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # the page is still building what the condition reads
            last = exc
        time.sleep(0.5)
    raise TimeoutError(f"{what} not seen after {timeout_s:.0f} s ({last})")


class Viewer:
    """The OHIF page, with the few actions the test needs."""

    def __init__(self, browser: WebDriver, out: Path) -> None:
        self.browser = browser
        self.out = out

    def text(self) -> str:
        return str(self.browser.execute_script("return document.body.innerText"))

    def click_text(self, text: str, timeout_s: float = 30.0, double: bool = False) -> None:
        xpath = f"//*[normalize-space(text())={json.dumps(text)}]"
        element = wait(lambda: self.browser.find_element(By.XPATH, xpath), timeout_s, text)
        if double:
            ActionChains(self.browser).double_click(element).perform()
        else:
            element.click()

    def skip_tour(self) -> None:
        with contextlib.suppress(TimeoutError):  # no tour on this page
            self.click_text("Skip all", timeout_s=10)

    def show_instance(self, sop_instance_uid: str) -> None:
        # SHOW_INSTANCE answers -1 while no viewport stack holds the slice: wait() retries.
        wait(lambda: self.browser.execute_script(SHOW_INSTANCE, sop_instance_uid) >= 0,
             60, "the PET slice in the viewport's stack")
        time.sleep(1.0)  # the slice, and any labelmap on it, are drawn asynchronously

    def screenshot(self, name: str, settle_s: float = 30.0) -> str:
        """Save the page once rendering has settled (two screenshots in a row are the same)."""
        path = self.out / name
        previous = b""
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            shot = self.browser.get_screenshot_as_png()
            if shot == previous:
                break
            previous = shot
            time.sleep(0.5)
        path.write_bytes(previous)
        return path.name

    def close_cine_player(self) -> None:
        """OHIF opens its cine player over OT images; a reader closes it (absent: nothing)."""
        for button in self.browser.find_elements(By.CSS_SELECTOR,
                                                 "[data-cy='cine-player-close']"):
            button.click()

    def open_panel(self, data_cy: str) -> None:
        self.browser.find_element(By.CSS_SELECTOR, f"[data-cy='{data_cy}']").click()
        time.sleep(1.0)

    def console(self) -> list[str]:
        return [f"{e['level']} {e['message'][:400]}" for e in self.browser.get_log("browser")]


def run(plan: dict[str, Any], out: Path) -> dict[str, Any]:
    browser = start_browser(out / "profile")
    viewer = Viewer(browser, out)
    result: dict[str, Any] = {"steps": []}
    try:
        browser.get(f"{plan['url']}/viewer?StudyInstanceUIDs={plan['study_uid']}")
        wait(lambda: plan["seg_description"] in viewer.text(), 120, "the study's series")
        viewer.skip_tour()
        result["series_listed"] = viewer.text()
        viewer.show_instance(plan["pet_instance_uid"])
        result["off"] = viewer.screenshot("pet.png")
        result["points_off"] = browser.execute_script(PAGE_POINTS, plan["points"])
        result["steps"].append("PET slice shown")

        viewer.click_text(plan["seg_description"], double=True)
        viewer.click_text("Yes", timeout_s=120)
        wait(
            lambda: browser.execute_script(SEGMENTATIONS, plan["points"]), 180,
            "segments in OHIF's state")
        result["steps"].append("SEG loaded")
        viewer.open_panel("panelSegmentation-btn")
        result["segmentation_panel"] = viewer.text()
        viewer.show_instance(plan["pet_instance_uid"])
        result["on"] = viewer.screenshot("pet_seg.png")
        result["points_on"] = browser.execute_script(PAGE_POINTS, plan["points"])
        # Read again now: the labelmap lookups at the points need the slice on screen.
        result["segmentations"] = browser.execute_script(SEGMENTATIONS, plan["points"])
        result["steps"].append("SEG shown on the PET slice")

        viewer.click_text(plan["key_image_description"], double=True)
        wait(lambda: browser.execute_script(IMAGE_CORNERS, plan["key_image_uid"]), 60,
             "the key image in the viewport")
        viewer.close_cine_player()
        result["key_image"] = viewer.screenshot("key_image.png")
        result["key_image_corners"] = browser.execute_script(IMAGE_CORNERS,
                                                             plan["key_image_uid"])
        result["key_image_viewport"] = browser.execute_script(
            "return window.cornerstone.getRenderingEngines()[0].getViewports()"
            ".map(v => v.getCurrentImageId && v.getCurrentImageId())")
        result["steps"].append("key image shown")

        viewer.click_text(plan["sr_description"], double=True)
        time.sleep(4.0)
        result["sr_page"] = viewer.text()
        result["sr"] = viewer.screenshot("sr.png")
        result["steps"].append("SR opened")
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["failed_at"] = viewer.screenshot("failed.png")
    finally:
        result["console"] = viewer.console()
        browser.quit()
    return result


def main(drive: Callable[[dict[str, Any], Path], dict[str, Any]] | None = None) -> None:
    """``PLAN.json OUT_DIR`` from the command line: run ``drive`` (this module's ``run``) and
    write what it returns to ``OUT_DIR/result.json``."""
    plan = json.loads(Path(sys.argv[1]).read_text())
    out = Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    result = (drive or run)(plan, out)
    (out / "result.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
