"""A real collector with real frames, and Debian's Chromium driven by Playwright (never downloaded)."""

from pathlib import Path

import pytest

from tests.web.collector import CollectorProcess, add_account, ingest_clip
from tests.web.screenshots import screenshot_dir

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = {"alice": "alice-passphrase", "bob": "bob-passphrase", "root": "root-passphrase"}


@pytest.fixture
def artifacts_dir(tmp_path) -> Path:
    """Where this test saves its screenshots: $EDGELABEL_SCREENSHOTS, else its tmp_path (tests.web.screenshots)."""
    return screenshot_dir(tmp_path)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(collector process, data dir, the solo device's track id)."""
    data_dir = tmp_path_factory.mktemp("collector")
    solo_track = ingest_clip(data_dir)
    for name, role in (("alice", "reviewer"), ("bob", "reviewer"), ("root", "admin")):
        add_account(data_dir, name, role, PASSWORD[name])
    collector = CollectorProcess(data_dir)
    yield collector, data_dir, solo_track
    collector.stop()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def log_in(browser, url: str, name: str):
    """A new browser context logged in as ``name``, on the page the login leads to."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD[name])
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return context, page
