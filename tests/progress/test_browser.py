"""The show page in a real headless browser: bars drawn, then refreshed in place."""

from __future__ import annotations

import shutil

import pytest
import requests
from playwright.sync_api import expect

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def page():
    if CHROMIUM is None:
        pytest.skip("no Chromium on this machine: install Debian's 'chromium' package (make test tries apt-get)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield browser.new_page(viewport={"width": 1100, "height": 700})
        finally:
            browser.close()


def update(url: str, **params) -> None:
    response = requests.get(f"{url}/progress/update", params={"jobid": "nightly", **params}, timeout=10)
    assert response.status_code == 200, response.text


def test_show_page_draws_the_bars_and_picks_up_an_update_without_reloading(live_server, page, settings, tmp_path):
    settings.PROGRESS_REFRESH_SECONDS = 1
    url = live_server.url
    requests.get(f"{url}/progress/create", params={"jobid": "nightly", "desc": "Nightly rebuild"}, timeout=10)
    update(url, workid="w1", current=1, total=4, desc="first quarter")
    update(url, workid="w2", current=2, total=8, desc="disk full", ok=0)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    page.goto(f"{url}/progress/show?jobid=nightly")
    row = page.locator('tr[data-workid="w1"]')
    assert row.locator(".c-pct").inner_text() == "25.0 %"
    assert "failing" in page.locator('tr[data-workid="w2"]').get_attribute("class")
    page.evaluate("window.stillTheSamePage = true")

    update(url, workid="w1", current=3, total=4, desc="three quarters")
    update(url, workid="w0", current=1, total=1, desc="a new worker")
    expect(row.locator(".c-pct")).to_have_text("75.0 %", timeout=15000)

    assert page.evaluate("window.stillTheSamePage") is True, "the page must update in place, not reload"
    assert row.locator(".c-text").inner_text() == "three quarters"
    expect(page.locator("#workers tr")).to_have_count(3, timeout=15000)
    assert page.locator("#workers tr").evaluate_all("rows => rows.map(r => r.dataset.workid)") == ["w0", "w1", "w2"]
    width = row.locator(".fill").evaluate("el => el.style.width")
    assert width.startswith("75")
    page.screenshot(path=str(tmp_path / "progress-show.png"), full_page=True)

    update(url, workid="w1", current=3, total=4, ok=0)
    expect(row).to_have_class("failing", timeout=15000)
    requests.get(f"{url}/progress/create", params={"jobid": "nightly", "desc": "Second run"}, timeout=10)
    update(url, workid="w9", current=1, total=2)
    expect(page.locator("#workers tr")).to_have_count(1, timeout=15000)
    expect(page.locator("#desc")).to_have_text("Second run")
    assert page.evaluate("window.stillTheSamePage") is True
    assert errors == [], "the page runs under its CSP without errors"


def test_show_page_draws_an_overfull_bar_full_a_total_of_0_empty_and_ok_2_green(live_server, page, tmp_path):
    url = live_server.url
    # No create: the first update makes the job, as a fire-and-forget client expects.
    update(url, workid="over", current=12, total=8, desc="more than planned")
    update(url, workid="zero", current=3, total=0, desc="total not known yet")
    update(url, workid="ok2", current=1, total=2, desc="ok=2", ok=2)
    update(url, workid="red", current=1, total=2, desc="ok=0", ok=0)

    page.goto(f"{url}/progress/show?jobid=nightly")

    def bar(workid: str) -> tuple[str, str, str, str]:
        row = page.locator(f'tr[data-workid="{workid}"]')
        fill = row.locator(".fill")
        return (
            fill.evaluate("el => el.style.width"),
            str(fill.evaluate("el => getComputedStyle(el).backgroundColor")),
            row.locator(".c-pct").inner_text(),
            row.locator(".c-count").inner_text(),
        )

    assert bar("over") == ("100%", "rgb(46, 160, 67)", "100.0 %", "12/8")
    assert bar("zero")[0] == "0%"
    assert bar("zero")[2:] == ("0.0 %", "3/0")
    assert bar("ok2") == ("50%", "rgb(46, 160, 67)", "50.0 %", "1/2")
    assert bar("red")[1] == "rgb(207, 34, 46)"
    box = page.locator('tr[data-workid="over"] .fill').bounding_box()
    track = page.locator('tr[data-workid="over"] .track').bounding_box()
    assert box is not None
    assert track is not None
    assert box["width"] == track["width"], "an overfull bar fills its track and no more"
    page.screenshot(path=str(tmp_path / "progress-fire-and-forget.png"), full_page=True)
