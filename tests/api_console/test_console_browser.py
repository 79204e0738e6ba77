"""The console in a real headless Chromium against a real `opsconductor serve` child process.

One server and one browser for the module; the tests run in order like an operator's shift:
sign in, watch an alert arrive live, ack it with a click, read its history, silence with a
preview, look at the wall. Screenshots land in ``$OPSCONDUCTOR_SCREENSHOTS`` (default: the
test's tmp dir) and are checked for content, not just taken.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.api_console.png import read_png
from tests.support.process import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
T = TypeVar("T")


def _need_browser() -> None:
    if CHROMIUM and CHROMEDRIVER:
        return
    message = "needs Debian chromium + chromium-driver (apt-get install chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(message)  # CI installs them: missing there is a failure, never a silent skip
    pytest.skip(message)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = Path(os.environ.get("OPSCONDUCTOR_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    _need_browser()
    data = tmp_path_factory.mktemp("console-server")
    rules = data / "rules"  # the shipped rules: correlation parents need them
    rules.mkdir()
    for f in (Path(__file__).parents[2] / "rules").glob("*.yaml"):
        if f.name != "notify.yaml":
            shutil.copy(f, rules / f.name)
    proc = ServerProcess(data, env={"OPSCONDUCTOR_HOUSEKEEPING_INTERVAL_S": "0.5",
                                    "OPSCONDUCTOR_RULES_DIR": str(rules)})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def driver(server: ServerProcess) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,800", "--no-first-run", "--disable-extensions",
                # No internet, like a NOC: every name but the loopback server fails to resolve.
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        opts.add_argument(arg)
    d = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)
    d.set_page_load_timeout(20)
    try:
        yield d
    finally:
        d.quit()  # before the server stops: its SSE stream closes with the browser


def api(server: ServerProcess, key: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key or server.admin_key}"},
                        timeout=10)


def send(server: ServerProcess, **event: Any) -> int:
    with api(server) as c:
        r = c.post("/api/v1/events", params={"wait": "true"}, json=[event])
        assert r.status_code == 200, r.text
        return int(r.json()["results"][0]["alert_id"])


def wait_for(check: Callable[[], T | None], timeout: float = 5.0, what: str = "condition") -> T:
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while True:
        try:
            got = check()
        except StaleElementReferenceException:  # the live page re-rendered under us: look again
            got = None
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def screenshot(driver: Any, shots: Path, name: str, *, must_show: str) -> None:
    """Save a screenshot and check it shows a page (many colours, not one flat background)."""
    path = shots / f"{name}.png"
    assert driver.save_screenshot(str(path))
    img = read_png(path.read_bytes())
    assert img.width >= 800 and img.height >= 500
    background = img.pixels[img.width * (img.height - 2) + 2]  # bottom-left corner: the page background
    assert img.colours() > 40, f"{name}: looks blank ({img.colours()} colours)"
    assert img.share_unlike(background) > 0.02, f"{name}: almost all background"
    assert must_show in driver.find_element("tag name", "body").text, f"{name}: {must_show!r} not on screen"


def click(driver: Any, by: str, value: str) -> None:
    """Click an element; the live list may swap it out between finding and clicking, so find again."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(20):
        try:
            driver.find_element(by, value).click()
            return
        except StaleElementReferenceException:
            time.sleep(0.05)
    raise AssertionError(f"{value} kept going stale")


def text(driver: Any, selector: str) -> str:
    """An element's visible text, read in one script call (the live page may swap elements any time)."""
    got = driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : ''",
                                selector)
    return str(got)


def css(driver: Any, selector: str) -> list[Any]:
    return list(driver.find_elements("css selector", selector))


def test_sign_in_and_see_an_alert_created_by_the_api(server: ServerProcess, driver: Any, shots: Path) -> None:
    send(server, resource="rtr1.ams", event="link_down", component="ge-0/0/1", severity="major",
         summary="uplink to core down", labels={"site": "ams"})
    driver.get(server.url + "/")
    assert "/login" in driver.current_url
    screenshot(driver, shots, "00-sign-in", must_show="Sign in with an API key")
    driver.find_element("id", "key").send_keys(server.admin_key)
    driver.find_element("id", "sign-in").click()
    wait_for(lambda: css(driver, "table.alerts tr.alert-row"), what="the alert list")
    assert "uplink to core down" in text(driver, "#alerts")
    assert server.admin_key not in driver.current_url
    # the session cookie is HttpOnly: the page's own script cannot read it
    assert "opsc_session" not in driver.execute_script("return document.cookie")
    wait_for(lambda: "on" in driver.find_element("id", "live-state").get_attribute("class"), what="live")
    screenshot(driver, shots, "01-alerts", must_show="uplink to core down")


def test_a_second_alert_appears_live_without_reload(server: ServerProcess, driver: Any, shots: Path) -> None:
    driver.execute_script("window.__sameDocument = true")
    sent = time.monotonic()
    alert_id = send(server, resource="core1.fra", event="bgp_down", component="peer-7", severity="critical",
                    summary="BGP peer 7 down", labels={"site": "fra"})
    wait_for(lambda: css(driver, f'tr.alert-row[data-id="{alert_id}"]'), timeout=3, what="the live row")
    took = time.monotonic() - sent
    assert took < 1.0, f"the new alert took {took:.2f}s to appear"
    assert driver.execute_script("return window.__sameDocument") is True  # no reload happened
    first = driver.execute_script("return document.querySelector('tr.alert-row').dataset.id")
    assert first == str(alert_id)  # critical sorts first
    screenshot(driver, shots, "02-live", must_show="BGP peer 7 down")


def test_ack_with_a_click_is_seen_by_the_api(server: ServerProcess, driver: Any) -> None:
    with api(server) as c:
        alert = c.get("/api/v1/alerts", params={"resource": "core1.fra"}).json()["alerts"][0]
    click(driver, "css selector", f'input.select[value="{alert["id"]}"]')
    assert driver.find_element("id", "selected-count").text == "1 selected"
    driver.find_element("css selector", '#toolbar button[data-action="ack"]').click()

    def acked() -> dict[str, Any] | None:
        with api(server) as c:
            a = c.get(f"/api/v1/alerts/{alert['id']}").json()
        return a if a["status"] == "acknowledged" else None

    a = wait_for(acked, what="the API to report the ack")
    assert a["acknowledged_by"] == "admin"
    wait_for(lambda: css(driver, f'tr.alert-row[data-id="{alert["id"]}"][data-status="acknowledged"]'),
             what="the row to show acknowledged")


def test_keyboard_moves_selects_and_acts(server: ServerProcess, driver: Any) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    with api(server) as c:
        alert = c.get("/api/v1/alerts", params={"resource": "rtr1.ams"}).json()["alerts"][0]
    def cursor() -> str | None:  # read in one script call: the live list may re-render at any time
        return driver.execute_script(  # type: ignore[no-any-return]
            "const r = document.querySelector('tr.alert-row.cursor'); return r ? r.dataset.id : null")

    for _ in range(10):
        ActionChains(driver).send_keys("j").perform()
        if wait_for(cursor, what="a cursor row") == str(alert["id"]):
            break
    assert cursor() == str(alert["id"])
    ActionChains(driver).send_keys("a").perform()  # ack the row under the cursor

    def acked() -> bool:
        with api(server) as c:
            return bool(c.get(f"/api/v1/alerts/{alert['id']}").json()["status"] == "acknowledged")

    wait_for(acked, what="the keyboard ack")
    ActionChains(driver).send_keys("u").perform()

    def unacked() -> bool:
        with api(server) as c:
            return bool(c.get(f"/api/v1/alerts/{alert['id']}").json()["status"] == "active")

    wait_for(unacked, what="the keyboard unack")


def test_detail_page_shows_history_and_takes_a_note(server: ServerProcess, driver: Any, shots: Path) -> None:
    with api(server) as c:
        alert = c.get("/api/v1/alerts", params={"resource": "core1.fra"}).json()["alerts"][0]
    click(driver, "link text", "core1.fra")
    wait_for(lambda: driver.current_url.endswith(f"/alerts/{alert['id']}"), what="the detail page")
    history = text(driver, "#history")
    assert "created" in history or "status" in history
    assert "ack" in history and "by admin" in history
    driver.find_element("css selector", ".note-form textarea").send_keys("called the fra DC, ticket 4711")
    driver.find_element("css selector", ".note-form button").click()
    wait_for(lambda: "ticket 4711" in text(driver, "#notes"), what="the note")
    with api(server) as c:
        hist = c.get(f"/api/v1/alerts/{alert['id']}").json()["history"]
    assert hist[-1]["kind"] == "note" and hist[-1]["text"] == "called the fra DC, ticket 4711"
    screenshot(driver, shots, "03-detail", must_show="ticket 4711")


def test_silence_from_the_ui_with_a_preview(server: ServerProcess, driver: Any, shots: Path) -> None:
    driver.get(server.url + "/silences")
    field, value = css(driver, ".matcher input[name=field]")[0], css(driver, ".matcher input[name=value]")[0]
    # A refused silence shows the problem body's text, field by field.
    field.send_keys("resource")
    css(driver, ".matcher select[name=op]")[0].send_keys("=~")
    value.send_keys("(a+)+")
    driver.find_element("css selector", "#silence-form input[name=comment]").send_keys("bad one")
    driver.find_element("id", "create-silence").click()
    flash = wait_for(lambda: text(driver, "#flash"), what="the problem text")
    assert "invalid silence" in flash and "matchers.resource.regex" in flash, flash
    driver.get(server.url + "/silences")
    field, value = css(driver, ".matcher input[name=field]")[0], css(driver, ".matcher input[name=value]")[0]
    field.send_keys("labels.site")
    value.send_keys("ams")
    preview = wait_for(lambda: css(driver, "#preview-count[data-count]"), what="the preview")[0]
    assert preview.get_attribute("data-count") == "1"
    assert "rtr1.ams" in text(driver, "#preview") and "core1.fra" not in text(driver, "#preview")
    driver.find_element("css selector", "#silence-form input[name=comment]").send_keys("CHG-1 ams maintenance")
    screenshot(driver, shots, "04-silence-preview", must_show="would be silenced")
    driver.find_element("id", "create-silence").click()
    wait_for(lambda: css(driver, "table.silences tr.silence"), what="the new silence in the list")
    with api(server) as c:
        silences = c.get("/api/v1/silences").json()["silences"]
        assert [(s["matchers"], s["comment"], s["state"]) for s in silences] == [
            ({"labels.site": "ams"}, "CHG-1 ams maintenance", "active")]
        rtr1 = c.get("/api/v1/alerts", params={"resource": "rtr1.ams"}).json()["alerts"][0]
        assert rtr1["status"] == "suppressed"
    click(driver, "css selector", "button.expire")
    wait_for(lambda: "expired" in text(driver, "table.silences"), what="expired")


def tv_counts(driver: Any) -> dict[str, str]:
    # One script call: the wall refreshes itself, so elements found one by one may go stale.
    return dict(driver.execute_script(
        "return Array.from(document.querySelectorAll('.tv-count')).map("
        "e => [e.querySelector('.l').textContent.toLowerCase(), e.querySelector('.n').textContent])"))


def test_tv_mode_renders_large_counts_in_both_themes(server: ServerProcess, driver: Any, shots: Path) -> None:
    driver.get(server.url + "/tv")
    counts = tv_counts(driver)
    assert counts["critical"] == "0" and counts["major"] == "1"  # core1 is acknowledged, rtr1 active again
    assert not css(driver, "button") and not css(driver, "nav")
    screenshot(driver, shots, "05-tv-light", must_show="MAJOR")
    light = read_png((shots / "05-tv-light.png").read_bytes()).mean_luma()
    alert_id = send(server, resource="pe9.lon", event="device_down", severity="critical", summary="pe9 down")
    wait_for(lambda: tv_counts(driver)["critical"] == "1", timeout=3, what="the wall to update")
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
        {"name": "prefers-color-scheme", "value": "dark"}]})
    screenshot(driver, shots, "06-tv-dark", must_show="pe9")
    dark = read_png((shots / "06-tv-dark.png").read_bytes()).mean_luma()
    assert dark < light - 40, (light, dark)
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    del alert_id


def test_a_correlation_parent_unfolds_to_its_children(server: ServerProcess, driver: Any, shots: Path) -> None:
    members = [send(server, resource=f"sw{i}.par", event="device_down", severity="major", labels={"site": "par"})
               for i in range(3)]
    driver.get(server.url + "/?group=site")
    parent, label = wait_for(lambda: driver.execute_script(
        "const b = document.querySelector('button.expand'); return b ? [b.dataset.parent, b.textContent] : null"),
        timeout=5, what="the parent's unfold button")
    assert label == "▸ 3"
    shown = ("return arguments[0].map(id => document.querySelector('tr.child-of-' + arguments[1] + "
             "'[data-id=\"' + id + '\"]')).map(r => r ? !r.hidden : null)")
    assert driver.execute_script(shown, members, parent) == [False] * 3  # folded: each alert listed once
    click(driver, "css selector", f'button.expand[data-parent="{parent}"]')
    wait_for(lambda: driver.execute_script(shown, members, parent) == [True] * 3, what="the children")
    assert "site = par" in text(driver, "#alerts")
    screenshot(driver, shots, "07-correlation", must_show="site par isolated")
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
        {"name": "prefers-color-scheme", "value": "dark"}]})
    screenshot(driver, shots, "07-correlation-dark", must_show="site par isolated")
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    dark = read_png((shots / "07-correlation-dark.png").read_bytes()).mean_luma()
    assert dark < read_png((shots / "07-correlation.png").read_bytes()).mean_luma() - 40


def test_a_read_key_sees_but_cannot_act(server: ServerProcess, driver: Any, shots: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "opsconductor", "keys", "create", "--name", "wall", "--scope", "read"],
                         env=server.env, capture_output=True, text=True, timeout=60, check=True)
    read_key = out.stdout.strip().splitlines()[-1]
    driver.find_element("css selector", "body")
    driver.delete_all_cookies()
    driver.get(server.url + "/")
    driver.find_element("id", "key").send_keys(read_key)
    driver.find_element("id", "sign-in").click()
    wait_for(lambda: css(driver, "tr.alert-row"), what="the list for a read key")
    assert not css(driver, "input.select") and not css(driver, "#toolbar button")
    assert "Read-only key" in driver.find_element("tag name", "body").text
    screenshot(driver, shots, "08-read-only", must_show="Read-only key")


def test_swagger_ui_works_offline_and_authorize_sends_the_key(server: ServerProcess, driver: Any,
                                                              shots: Path) -> None:
    driver.get(server.url + "/schema")
    wait_for(lambda: "OpsConductor" in driver.find_element("css selector", ".swagger-ui .info").text,
             timeout=10, what="Swagger UI to render the document")
    click(driver, "css selector", ".auth-wrapper button.authorize")
    field = wait_for(lambda: css(driver, 'input[aria-label="auth-bearer-value"]'), what="the Authorize dialog")[0]
    field.send_keys(server.admin_key)
    click(driver, "css selector", ".auth-btn-wrapper button.authorize")
    click(driver, "css selector", ".auth-btn-wrapper button.btn-done")
    opblock = '.opblock-get:has(span[data-path="/api/v1/alerts/counts"])'
    click(driver, "css selector", f"{opblock} .opblock-summary-control")
    wait_for(lambda: css(driver, f"{opblock} .try-out__btn"), what="Try it out")
    click(driver, "css selector", f"{opblock} .try-out__btn")
    click(driver, "css selector", f"{opblock} button.execute")
    live = f"{opblock} .live-responses-table tr.response .response-col_status"
    status = wait_for(lambda: css(driver, live), timeout=10, what="the live response")[0].text
    assert status.strip().startswith("200"), status
    curl = driver.find_element("css selector", f"{opblock} .curl-command").text
    assert "Authorization: Bearer" in curl
    screenshot(driver, shots, "09-swagger", must_show="OpsConductor")
