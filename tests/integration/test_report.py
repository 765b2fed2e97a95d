"""The smoke study's HTML report, opened in a real browser (headless Chromium)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOWN_IMAGES = """() => Array.from(document.querySelectorAll('img'))
    .filter(img => img.clientWidth > 100)
    .map(img => ({ok: img.complete && img.naturalWidth > 0, src: img.src.slice(0, 60)}))"""


@pytest.fixture(scope="module")
def report(smoke_run, smoke_study, run_workflow):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: make setup installs Debian's chromium")
        pytest.skip("Chromium is not installed (make setup installs it on Debian)")
    path = smoke_run / "results" / "smoke" / "report.html"
    result = run_workflow(smoke_run, "--report", str(path), configfiles=(smoke_study,))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return path


def _show_every_item(page) -> list[dict]:
    shown = []
    eyes = page.locator('a[iconname="eye"]')
    for i in range(eyes.count()):
        eyes.nth(i).click()
        page.wait_for_function(
            "() => Array.from(document.images).some(i => i.clientWidth > 100 && i.complete)", timeout=15_000
        )
        shown += page.evaluate(SHOWN_IMAGES)
    return shown


def test_report_renders_every_figure(report, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(report.as_uri())
        page.wait_for_timeout(1500)
        body = page.inner_text("body")
        for category in ("Evaluation", "Compound inference", "Synthetic data", "Preference optimisation"):
            assert category in body
        # the workflow description names the stages too: click the categories' links
        shown = []
        page.get_by_role("link", name="Evaluation", exact=True).click()
        page.wait_for_timeout(300)
        shown += _show_every_item(page)
        for subcategory in ("smollm2-135m-instruct", "model per module"):
            page.get_by_text("Results", exact=True).first.click()
            page.get_by_role("link", name="Compound inference", exact=True).click()
            page.wait_for_timeout(300)
            page.get_by_text(subcategory, exact=True).first.click()
            page.wait_for_timeout(300)
            shown += _show_every_item(page)
            toggle = page.get_by_text("difficulty histogram", exact=True)
            if toggle.count():  # the figure label switches between a model's figures
                toggle.first.click()
                page.wait_for_timeout(300)
                shown += _show_every_item(page)
        for category in ("Synthetic data", "Preference optimisation"):
            page.get_by_text("Results", exact=True).first.click()
            page.get_by_role("link", name=category, exact=True).click()
            page.wait_for_timeout(300)
            shown += _show_every_item(page)
        screenshot = Path(os.environ.get("ASSAY_TEST_ARTIFACTS", tmp_path)) / "report.png"
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot))
        browser.close()
    # accuracy, vote curves + difficulty, allocations, synthetic, log-prob curves + CHES scatter
    assert len(shown) >= 7, shown
    assert all(image["ok"] for image in shown), [i for i in shown if not i["ok"]]
