"""The dashboard in a real browser: Debian's Chromium, headless, driven by Selenium.

A sped-up daemon (``finagent up --speed 600``) trades a session on a database that already holds
three simulated ones; ``finagent dashboard`` serves it on a random port with a password. The
test signs in (a wrong password first), opens every page, checks its key texts and that no
Streamlit exception box shows, presses Halt and Resume (each confirmed) and sees the daemon's
acknowledgement on the page and the state in the database. A PNG of each page is saved under
the test's folder, and into ``$FINAGENT_SCREENSHOTS`` (docs/img) when that is set.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from finagent.adapters.sqlite.state import read_applied, read_control
from finagent.app import database
from tests.dashboard.conftest import DAYS
from tests.e2e.daemon import FINAGENT, env_for, start, wait_for_log
from tests.e2e.test_db_file import stop

pytestmark = pytest.mark.slow

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
PASSWORD = "correct horse"
#: the session after the simulated ones (2025-01-09 was closed), from before its pre-market scan
START = "2025-01-10T08:58:00-05:00"
DEAD_ERROR = "StorageError: disk I/O error (injected by the browser test)"
PAGES = {
    "Today": ["Kill switch", "Next firings", "Candidates 2025-01-10", "approved,"],
    "History": ["Sessions", "Total P&L", "Orders of the session"],
    "Queue": ["Oldest pending", "Dead letters", DEAD_ERROR],
    "Schedule": ["closed: 2025-01-20 Mon (Dr. Martin Luther King Jr. Day)", "early closes: none"],
    "Health": ["Actors up", "Loop lag", "Restarts"],
}

if not (CHROMIUM.exists() and DRIVER.exists()):  # pragma: no cover - CI installs them (.ci/run)
    if os.environ.get("CI"):
        raise RuntimeError("the browser test needs chromium and chromium-driver (see .ci/run)")
    pytestmark = [pytest.mark.slow, pytest.mark.skip(reason="no chromium/chromium-driver")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _drain(proc: subprocess.Popen[str]) -> None:
    """Keep reading the daemon's log so a full pipe never blocks it."""
    assert proc.stdout is not None
    for _ in proc.stdout:
        pass


@pytest.fixture
def daemon(db: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``finagent up --speed 600`` on the simulated database; its /metrics port."""
    port = _free_port()
    # One dead letter for the Queue page's Retry: a past session's report (re-running it only
    # writes that report again).
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "UPDATE jobs SET status = 'dead', attempts = max_attempts, last_error = ?"
            " WHERE key = ?", (DEAD_ERROR, f"schedule:daily_report:{DAYS[0]}"),
        )  # fmt: skip
    conn.close()
    proc = start(
        ["up", "--speed", "600", "--start", START, "--db", str(db)], db.parent,
        FINAGENT_METRICS__PORT=str(port), FINAGENT_SIM__SYMBOLS="300",
    )  # fmt: skip
    try:
        wait_for_log(proc, "supervision tree 'root' running")
        threading.Thread(target=_drain, args=(proc,), daemon=True).start()
        yield proc, port
    finally:
        if proc.poll() is None:
            stop(proc)


@pytest.fixture
def dashboard(db: Path, daemon: tuple[subprocess.Popen[str], int]) -> Iterator[str]:
    """``finagent dashboard`` on a random port; its URL once Streamlit answers its health check."""
    port = _free_port()
    log = (db.parent / "dashboard.log").open("w")
    # A settings file of its own: the app process must read the same one as the command.
    config = db.parent / "dashboard.yaml"
    config.write_text("dashboard:\n  refresh_s: 2\n")
    env = env_for(
        db.parent, FINAGENT_METRICS__PORT=str(daemon[1]), FINAGENT_DASHBOARD__PASSWORD=PASSWORD
    )
    proc = subprocess.Popen(
        [*FINAGENT, "dashboard", "--port", str(port), "--db", str(db), "--config", str(config)],
        cwd=db.parent, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (db.parent / "dashboard.log").read_text()
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the dashboard did not answer within 60 s"
            time.sleep(0.2)
        yield url
    finally:
        code, _ = stop(proc)  # type: ignore[arg-type]
        log.close()
        assert code == 0, (db.parent / "dashboard.log").read_text()


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium through the system chromedriver (nothing downloaded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,2000", "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(str(DRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def _wait_text(driver: object, needle: str, timeout: float = 30.0) -> None:
    """Wait until ``needle`` is in the page's text (Streamlit redraws as the script runs)."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    body = ""
    while time.monotonic() < deadline:
        body = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
        if needle in body:
            return
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not on the page; it shows:\n{body[-3000:]}")


def _wait_gone(driver: object, needle: str, timeout: float) -> bool:
    """Wait (at most ``timeout``) until ``needle`` leaves the page; whether it did."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle not in driver.find_element(By.TAG_NAME, "body").text:  # type: ignore[attr-defined]
            return True
        time.sleep(0.2)
    return False


def _click(driver: object, text: str, *, within: str = "stMain") -> None:
    """Click the button (or sidebar option) whose label is ``text``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    path = (
        f"//*[@data-testid='{within}']//button[normalize-space(.)='{text}']"
        if within == "stMain"
        else f"//*[@data-testid='{within}']//label[normalize-space(.)='{text}']"
    )
    WebDriverWait(driver, 30).until(ec.element_to_be_clickable((By.XPATH, path))).click()


def _password(driver: object) -> object:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    located = ec.element_to_be_clickable((By.CSS_SELECTOR, "input[type='password']"))
    return WebDriverWait(driver, 30).until(located)


def _no_exception(driver: object) -> None:
    from selenium.webdriver.common.by import By

    boxes = driver.find_elements(By.CSS_SELECTOR, "[data-testid='stException']")  # type: ignore[attr-defined]
    assert not boxes, [b.text for b in boxes]


def _screenshot(driver: object, name: str, out: Path) -> None:
    """A PNG of the page, reduced to a palette (UI colours) so the docs' copies stay small."""
    from PIL import Image, ImageChops

    png = driver.get_screenshot_as_png()  # type: ignore[attr-defined]
    image = Image.open(io.BytesIO(png)).convert("RGB")
    # Cut the empty bottom of the window: keep down to the last row the main area draws on.
    width, height = image.size
    main = ImageChops.invert(image.crop((320, 0, width, height)).convert("L"))
    box = main.point(lambda v: 255 if v > 24 else 0).getbbox()
    bottom = min(height, (box[3] if box else height) + 40)
    image = image.crop((0, 0, width, bottom)).quantize(colors=64)
    image.save(out / f"dashboard-{name}.png", optimize=True)
    if target := os.environ.get("FINAGENT_SCREENSHOTS"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(out / f"dashboard-{name}.png", Path(target) / f"dashboard-{name}.png")


def _rendered_s(driver: object) -> float:
    """The server-side render time the page states (``rendered in X s``)."""
    from selenium.webdriver.common.by import By

    text = driver.find_element(By.TAG_NAME, "body").text  # type: ignore[attr-defined]
    found = re.findall(r"rendered in (\d+\.\d+) s", text)
    assert found, text[-500:]
    return float(found[-1])


def test_every_page_and_the_kill_switch_in_a_real_browser(
    browser: object, dashboard: str, db: Path, tmp_path: Path
) -> None:
    from selenium.webdriver.common.keys import Keys

    out = tmp_path / "screenshots"
    out.mkdir()
    driver = browser
    driver.get(dashboard)  # type: ignore[attr-defined]
    _wait_text(driver, "This dashboard is password protected.")
    _password(driver).send_keys("guess", Keys.ENTER)
    _wait_text(driver, "Wrong password.")
    _screenshot(driver, "password", out)
    box = _password(driver)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(PASSWORD, Keys.ENTER)
    _wait_text(driver, "Kill switch")
    _wait_text(driver, "refreshes every 2 s")  # from --config: the app read the same file
    # The daemon reaches the opening range and trades: wait until today's plans show.
    _wait_text(driver, "approved,", timeout=60)
    _wait_gone(driver, "No closed trade yet.", timeout=45)  # for the picture: a P&L line
    timings: dict[str, float] = {}
    for page, needles in PAGES.items():
        started = time.perf_counter()
        _click(driver, page, within="stSidebar")
        for needle in needles:
            _wait_text(driver, needle)
        _wait_text(driver, "rendered in")
        timings[page] = time.perf_counter() - started
        _no_exception(driver)
        time.sleep(0.5)  # let the charts draw before the picture
        _screenshot(driver, page.lower(), out)
        assert _rendered_s(driver) < 5.0
    # Retry the dead letter (confirmed): the running daemon takes it back.
    _click(driver, "Queue", within="stSidebar")
    _click(driver, "Retry")
    _wait_text(driver, "back to pending?")
    _click(driver, "Confirm")
    _wait_text(driver, "is pending again; daemon pid")
    _no_exception(driver)
    # Due at the daemon's "now" (its sim timeline), so it runs at once, not in wall-clock time.
    deadline = time.monotonic() + 30
    key = f"schedule:daily_report:{DAYS[0]}"
    while (job := database.jobs_with_key_prefix(db, key)[0]).status.value != "done":
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    _click(driver, "Health", within="stSidebar")
    # A refresh (every 2 s here) keeps the page picked in the sidebar.
    time.sleep(2.5)
    _wait_text(driver, "Actors up")
    _click(driver, "Today", within="stSidebar")
    _wait_text(driver, "Kill switch")
    _click(driver, "Halt")
    _wait_text(driver, "Halt trading? No new entries")
    _click(driver, "Confirm")
    _wait_text(driver, "applied it at", timeout=30)
    assert read_control(db).state == "halted"
    applied = read_applied(db)
    assert applied is not None and applied.state == "halted"
    _wait_text(driver, "halted; daemon pid")
    _no_exception(driver)
    _screenshot(driver, "halted", out)
    _click(driver, "Resume")
    _wait_text(driver, "Resume trading? New entries are allowed again.")
    _click(driver, "Confirm")
    _wait_text(driver, "active; daemon pid", timeout=30)
    assert read_control(db).state == "active"
    _no_exception(driver)
    print("page timings (click to last element, s):", timings)
