"""The sandbox page in a real browser: headless Chromium drives the four stories of the README.

The real web server (gunicorn) and a real RQ worker (``python -m workers``) run against the
suite's Redis with SANDBOX on; every step goes through the real webhook, queues, jobs and
clients to the simulators and back. Outside CI a missing browser skips these tests; in CI
(``CI=true``) it fails them.

Besides reading the page's text, the tests look at what is drawn (``Page.look``): no text box
clipped, every panel's content inside its panel, the controls a person needs in the viewport
at 1366×768 and reachable at a phone's width; each story leaves a screenshot in
``SCREENSHOT_DIR`` (default ``var/screenshots``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from handlers.sandbox.people import BY_KEY

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_CSV = ROOT / "handlers" / "sandbox" / "static" / "sample_appointments.csv"
SCREENSHOT = ROOT / "docs" / "sandbox.png"
SCREENSHOTS = Path(os.environ.get("SCREENSHOT_DIR") or ROOT / "var" / "screenshots")
LAPTOP, PHONE = (1366, 768), (390, 844)
INSTALL = "apt-get install -y chromium chromium-driver"
WAIT = 30  # seconds for one step: a job, a webhook and a poll of the page

pytestmark = pytest.mark.integration


def _browser_or_skip():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        chromium = None
    if chromium and driver:
        return chromium, driver
    message = f"browser tests need Chromium, chromedriver and selenium: {INSTALL} (and ./dev test installs selenium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _up(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="module")
def page(redis_server, tmp_path_factory):
    yield from serve_in_browser(redis_server, tmp_path_factory)


def serve_in_browser(redis_server, tmp_path_factory, **settings: str):
    """gunicorn and a worker in sandbox mode (with ``settings`` more), and Chromium on its page."""
    chromium, chromedriver = _browser_or_skip()
    import redis as redis_lib
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    redis_lib.Redis.from_url(redis_server.url).flushdb()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV")}
    env.update(REDIS_URL=redis_server.url, SANDBOX="1", SANDBOX_URL=url, LOG_LEVEL="INFO", **settings)
    logs = tmp_path_factory.mktemp("sandbox-logs")
    processes = [
        subprocess.Popen([sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}",
                          "--workers", "1", "--worker-class", "gevent", "--timeout", "30"], cwd=ROOT, env=env,
                         stdout=open(logs / "web.log", "w"), stderr=subprocess.STDOUT),
        subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env,
                         stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT),
    ]
    driver = None
    try:
        deadline = time.monotonic() + 30
        while not _up(url + "/healthz"):
            assert time.monotonic() < deadline, (logs / "web.log").read_text()
            assert all(p.poll() is None for p in processes), (logs / "web.log").read_text()
            time.sleep(0.1)
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}", "--window-size=1600,1100"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
        shown = Page(driver, url, logs)
        shown.viewport(*LAPTOP)
        driver.get(url + "/")
        yield shown
    finally:
        if driver is not None:
            driver.quit()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# Every box that holds words a person reads.
TEXTS = (".bubble, .flex-bubble .text, .flex-button, .quick, .ld-text, .ld-meta, .desk-head, .conv, .sms-text, "
         ".sms-meta, .notice-meta, .his td, .his th, .line-head, .patient-tab, .log-line, .chat-bar, "
         ".hospitals-label, .hospital-name, .hospital-hours, .hospital-count")
# Each panel, and what must stay inside it.
PANELS = {
    "the patient's LINE": ".line-phone", "the LINE screen": ".line-screen", "the agent desk": ".desk",
    "the desk's conversation": ".desk-body", "the patient's phone (SMS)": ".phone",
    "หมอพร้อม (MOPH)": ".morprom", "the HIS": ".his", "the provider traffic": ".traffic",
}
# What a person must reach without hunting for it.
CONTROLS = ("[data-testid=patient-input]", "[data-testid=patient-send]", "[data-testid=richmenu-toggle]",
            "[data-testid=agent-input]", "[data-testid=agent-send]", "[data-testid=agent-resolve]")

LOOK_JS = r"""
const [texts, panels, controls, scroll] = arguments;
const problems = [];
const rect = (e) => e.getBoundingClientRect();
const drawn = (e) => { const r = rect(e); return r.width > 0 && r.height > 0 && e.checkVisibility({visibilityProperty: true}); };
const say = (e) => (e.dataset.testid || e.className || e.tagName.toLowerCase()) + ' "' + e.textContent.trim().replace(/\s+/g, " ").slice(0, 50) + '"';
const round = (r) => `[${Math.round(r.left)},${Math.round(r.top)} ${Math.round(r.width)}x${Math.round(r.height)}]`;

// 0. the page as wide as the screen: a phone zooms out a wider page until nothing can be read
if (innerWidth !== screen.width || document.documentElement.scrollWidth > innerWidth)
  problems.push(`the page is ${document.documentElement.scrollWidth} px wide (layout viewport ${innerWidth}) on a ${screen.width} px screen`);

// 1. every text whole: nothing cut to one line with an ellipsis, nothing overflowing its box
for (const e of document.querySelectorAll(texts)) {
  if (!drawn(e)) continue;
  const s = getComputedStyle(e);
  if (e.matches(".bubble") && s.whiteSpace === "nowrap")
    problems.push(`${say(e)}: a message bubble cut to one line (white-space: nowrap; text-overflow: ${s.textOverflow})`);
  if (e.scrollWidth > e.clientWidth + 1)
    problems.push(`${say(e)}: clipped sideways (scrollWidth ${e.scrollWidth} > clientWidth ${e.clientWidth})`);
  if (s.overflowY !== "visible" && e.scrollHeight > e.clientHeight + 1 && !/auto|scroll/.test(s.overflowY))
    problems.push(`${say(e)}: clipped at the bottom (scrollHeight ${e.scrollHeight} > clientHeight ${e.clientHeight})`);
}

// 2. every panel's content inside the panel; a scrolling box is checked as a whole, not what it scrolls
for (const [name, selector] of Object.entries(panels)) {
  const panel = document.querySelector(selector);
  if (!panel) { problems.push(`${name} (${selector}) is not on the page`); continue; }
  const outer = rect(panel);
  const walk = (parent) => {
    for (const child of parent.children) {
      if (!drawn(child)) continue;
      const r = rect(child);
      if (r.left < outer.left - 1 || r.top < outer.top - 1 || r.right > outer.right + 1 || r.bottom > outer.bottom + 1) {
        problems.push(`${name} ${round(outer)}: ${say(child)} ${round(r)} spills out of it`);
        continue;
      }
      const s = getComputedStyle(child);
      if (s.overflowX === "visible" && s.overflowY === "visible") walk(child);
    }
  };
  walk(panel);
}

// 3. the controls on screen and not covered
for (const selector of controls) {
  const e = document.querySelector(selector);
  if (!e || !drawn(e)) { problems.push(`${selector} is not drawn`); continue; }
  if (scroll) e.scrollIntoView({block: "center", inline: "center"});
  const r = rect(e), x = r.left + r.width / 2, y = r.top + r.height / 2;
  if (r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth) {
    problems.push(`${selector} ${round(r)} is outside the ${innerWidth}x${innerHeight} viewport` + (scroll ? " after scrolling to it" : ""));
    continue;
  }
  const hit = document.elementFromPoint(x, y);
  if (!hit || !(hit === e || e.contains(hit))) problems.push(`${selector} is covered by ${hit ? say(hit) : "nothing"}`);
}
if (scroll) window.scrollTo(0, 0);
return problems;
"""


class Page:
    """The sandbox page, in the words of its data-testid hooks."""

    def __init__(self, driver, url: str, logs: Path):
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver, self.url, self.logs = driver, url, logs
        self.wait = WebDriverWait(driver, WAIT, poll_frequency=0.1)

    def all(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def one(self, selector: str):
        return self.until(lambda: (self.all(selector) or [None])[0], f"an element {selector}")

    def until(self, condition, what: str):
        from selenium.common.exceptions import StaleElementReferenceException, TimeoutException

        def check(_driver):
            try:
                return condition()
            except StaleElementReferenceException:  # the panel was swapped while we read it
                return False
        try:
            return self.wait.until(check)
        except TimeoutException:
            worker = (self.logs / "worker.log").read_text()[-4000:]
            web = (self.logs / "web.log").read_text()[-2000:]
            chat = "\n".join(m.text[:80] for m in self.all("[data-testid=patient-message]"))
            traffic = requests.get(self.url + "/sandbox/ui/state", timeout=5).json()["panels"]["log"]
            chat += "\n--- traffic ---\n" + re.sub(r"<[^>]+>", " | ", traffic)
            raise AssertionError(f"timed out waiting for {what}\n--- chat ---\n{chat}\n--- worker log ---\n"
                                 f"{worker}\n--- web log ---\n{web}") from None

    def choose_patient(self, key: str) -> None:
        self.one(f'[data-testid=patient-tab][data-patient="{key}"]').click()
        self.until(lambda: self.one("[data-testid=chat-of]").get_attribute("data-patient") == key,
                   f"{key}'s chat on screen")

    def bot_messages(self) -> list[str]:
        return [m.text for m in self.all('[data-testid=patient-message][data-from="bot"]')]

    def say(self, text: str) -> int:
        """Type as the patient; returns how many bot messages there were before."""
        before = len(self.bot_messages())
        box = self.one("[data-testid=patient-input]")
        box.clear()
        box.send_keys(text)
        self.one("[data-testid=patient-send]").click()
        self.until(lambda: any(m.text == text for m in self.all('[data-testid=patient-message][data-from="patient"]')),
                   f"the patient's own message {text!r}")
        return before

    def bot_says(self, pattern: str, after: int = 0) -> str:
        regex = re.compile(pattern)
        return self.until(lambda: next((m for m in self.bot_messages()[after:] if regex.search(m)), None),
                          f"a bot message matching {pattern!r}")

    # -- what a person sees ------------------------------------------------------------------------

    def viewport(self, width: int, height: int, phone: bool = False) -> None:
        """The page's viewport in CSS pixels, exactly (a window size would include the browser's frame)."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "screenWidth": width, "screenHeight": height,
            "deviceScaleFactor": 1, "mobile": phone})
        self.until(lambda: self.driver.execute_script("return [screen.width, screen.height]") == [width, height],
                   f"a {width}x{height} screen")

    def screenshot(self, name: str) -> Path:
        """Keep what is on screen as a test artefact, for a person to look at."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        png = self.driver.get_screenshot_as_png()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        path.write_bytes(png)
        return path

    def look(self, name: str, controls: tuple[str, ...] = CONTROLS, scroll: bool = False,
             show: str | None = None, panels: dict[str, str] = PANELS) -> None:
        """Screenshot, then assert what a person sees: every text whole, every panel's content inside
        its panel, and each of ``controls`` on screen and not covered (after scrolling to it if
        ``scroll``, as a person on a phone would). ``show``: a panel below the fold, screenshot too."""
        self.until(lambda: self.driver.execute_script("return document.fonts.status") == "loaded",
                   "the page's fonts loaded")
        if show:
            self.driver.execute_script("document.querySelector(arguments[0]).scrollIntoView()", show)
            self.screenshot(name + "-below")
        self.driver.execute_script("window.scrollTo(0, 0)")
        path = self.screenshot(name)
        problems = self.driver.execute_script(LOOK_JS, TEXTS, panels, list(controls), scroll)
        assert not problems, f"what a person sees in {path}:\n" + "\n".join(problems)



def test_0_a_patient_opening_the_chat_sees_the_rich_menu(page):
    """As LINE shows a chat with no message yet: the OA's rich menu open under the input, no quick replies."""
    page.choose_patient("somchai")
    assert not page.bot_messages()
    menu = page.one("[data-testid=richmenu]")
    areas = page.all("[data-testid=richmenu-area]")
    assert len(areas) == 6 and all(a.is_displayed() for a in areas), "the six areas of the shipped rich menu"
    assert "เวลาทำการ" in " ".join(a.get_attribute("aria-label") for a in areas)
    assert not page.one("[data-panel=quick]").is_displayed(), "no empty quick-reply bar"
    page.look("0-first-open", controls=CONTROLS + ("[data-testid=richmenu-area]",))
    assert menu.get_attribute("class").split().count("open") == 1


def test_1_patient_asks_opening_hours_and_taps_a_quick_reply(page):
    page.choose_patient("somchai")
    before = page.say("เปิดกี่โมง")
    assert "เวลาทำการ" in page.bot_says("เวลาทำการ", before)  # the knowledge base's Flex answer
    reply = page.one('[data-testid=patient-message][data-from="bot"][data-via]')
    assert reply.get_attribute("data-via") == "reply"  # answered with the fresh reply token
    location = next(q for q in page.until(lambda: page.all("[data-testid=quick-reply]"), "quick replies")
                    if "การเดินทาง" in q.text)
    before = len(page.bot_messages())
    location.click()
    page.bot_says("แผนที่|ที่อยู่|การเดินทาง|ถนน", before)
    page.look("1-opening-hours")


def test_2_handoff_to_staff_and_back_to_the_bot(page):
    patient = BY_KEY["malee"]
    page.choose_patient("malee")
    before = page.say("คุยกับเจ้าหน้าที่")
    page.bot_says("เจ้าหน้าที่", before)
    conversation = page.until(lambda: next((c for c in page.all("[data-testid=agent-conversation]")
                                            if patient.name in c.text), None), "Malee's conversation in the desk")
    conversation.click()
    page.until(lambda: page.all('[data-testid=agent-messages] [data-kind="note"]'), "the handoff's private note")
    page.until(lambda: any("คุยกับเจ้าหน้าที่" in m.text for m in
                           page.all('[data-testid=agent-messages] [data-kind="incoming"]')),
               "the patient's words mirrored")

    before = len(page.bot_messages())
    page.one("[data-testid=agent-input]").send_keys("สวัสดีค่ะ พยาบาลสมศรีรับเรื่องแล้วค่ะ")
    page.one("[data-testid=agent-send]").click()
    page.bot_says("พยาบาลสมศรีรับเรื่องแล้ว", before)  # pushed to the patient's LINE
    pushed = page.all('[data-testid=patient-message][data-from="bot"][data-via="push"]')
    assert pushed, "an agent's reply is a push (no reply token is left)"

    before = len(page.bot_messages())
    page.one("[data-testid=agent-resolve]").click()
    page.until(lambda: page.one("[data-testid=agent-conversation-status]").get_attribute("data-status")
               == "resolved", "the conversation resolved")
    page.bot_says(".", before)  # the patient is told the bot is back
    before = page.say("เปิดกี่โมง")
    page.bot_says("เวลาทำการ", before)  # and the bot answers again
    page.look("2-handoff")


def test_3_phone_verification_by_sms_otp(page):
    patient = BY_KEY["john"]
    page.choose_patient("john")
    before = page.say("ยืนยันตัวตน")
    page.bot_says("เบอร์มือถือ", before)
    before = page.say(patient.phone)
    sms = page.until(lambda: next((m for m in page.all(f'[data-testid=sms-message][data-to="{patient.phone}"]')),
                                  None), "the OTP SMS on the phone")
    code = re.search(r"\b(\d{6})\b", sms.text).group(1)
    page.bot_says("Ref", before)  # the bot tells the reference, never the code
    page.until(lambda: page.one(f'[data-testid=sms-message][data-to="{patient.phone}"]').get_attribute("data-status")
               == "delivered", "the delivery report")
    before = page.say(code)
    page.bot_says("สำเร็จ", before)
    contact = page.until(lambda: (lambda c: c if c.get_attribute("data-phone") == patient.phone
                                  and "verified" in c.get_attribute("data-tags").split(",") else None)(
        page.one("[data-testid=oho-contact]")), "the Oho contact with the phone and the verified tag")
    assert patient.phone in contact.text
    page.look("3-phone-verification")


def test_4_his_uploads_the_sample_csv_and_notices_reach_morprom(page):
    page.one("[data-testid=his-file]").send_keys(str(SAMPLE_CSV))
    page.one("[data-testid=his-submit]").click()
    notices = page.until(lambda: (lambda found: found if len(found) >= 3 else None)(
        page.all("[data-testid=moph-notice]")), "three notices in หมอพร้อม")
    assert {n.get_attribute("data-cid") for n in notices} == {"1100000000016", "1100000000024", "1100000000032"}
    assert all(n.find_elements("css selector", ".flex-bubble") for n in notices)  # Flex, rendered
    rows = page.until(lambda: (lambda r: r if sorted(x.get_attribute("data-status") for x in r)
                               == ["invalid", "sent", "sent", "sent"] else None)(page.all("[data-testid=his-row]")),
                      "the notice statuses: three sent, the bad row reported")
    bad = next(r for r in rows if r.get_attribute("data-status") == "invalid")
    assert re.search("check digit|เลขตรวจสอบ", bad.text)
    page.look("4-his-notices", show=".morprom")

    page.choose_patient("somchai")  # the Flex answer and the quick replies, for the README
    page.until(lambda: page.all('[data-testid=patient-message][data-from="bot"] .flex-bubble'), "Somchai's chat")
    png = page.driver.get_screenshot_as_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(png)


def test_5_a_long_conversation_stays_inside_the_desk(page):
    patient = BY_KEY["malee"]
    page.choose_patient("malee")
    before = page.say("ขอคุยกับพยาบาลค่ะ")
    page.bot_says("เจ้าหน้าที่", before)
    lines = [f"คำถามข้อ {n}: ยาที่ได้รับเมื่อวานต้องกินก่อนหรือหลังอาหาร และกินวันละกี่ครั้งคะ" for n in range(1, 6)]
    for line in lines:
        page.say(line)
    page.until(lambda: next((c for c in page.all("[data-testid=agent-conversation]") if patient.name in c.text
                             and c.get_attribute("data-status") != "resolved"), None),
               "Malee's new conversation in the desk").click()
    page.until(lambda: all(any(line in m.text for m in page.all('[data-testid=agent-messages] [data-kind="incoming"]'))
                           for line in lines), "every line mirrored to the desk")
    for reply in ("กินหลังอาหารเช้าและเย็นค่ะ วันละ 2 ครั้ง", "ถ้ามีอาการผื่นคันให้หยุดยาแล้วโทรหาเราได้เลยนะคะ"):
        before = len(page.bot_messages())
        page.one("[data-testid=agent-input]").send_keys(reply)
        page.one("[data-testid=agent-send]").click()
        page.bot_says(re.escape(reply[:12]), before)
    page.look("5-long-conversation")


def test_6_a_phone_reaches_every_control(page):
    page.viewport(*PHONE, phone=True)
    try:
        page.look("6-phone", scroll=True, show=".desk")
    finally:
        page.viewport(*LAPTOP)


def test_7_thai_is_drawn_in_the_pages_own_font(page):
    """No Thai font on the machine must not mean empty boxes: the page brings Sarabun (OFL)."""
    faces = page.driver.execute_script("""
        return document.fonts.ready.then(() => [...document.fonts]
            .filter((f) => f.family.replace(/["']/g, "") === "Sarabun")
            .map((f) => [f.weight, f.status, f.unicodeRange]));""")
    thai = [f for f in faces if "E01" in f[2].upper() and f[1] == "loaded"]
    assert thai, f"no Sarabun face with Thai loaded; the page's Sarabun faces: {faces}"
    driver = page.driver
    driver.execute_cdp_cmd("DOM.enable", {})
    driver.execute_cdp_cmd("CSS.enable", {})
    root = driver.execute_cdp_cmd("DOM.getDocument", {})["root"]["nodeId"]
    send = driver.execute_cdp_cmd("DOM.querySelector", {"nodeId": root, "selector": "[data-testid=patient-send]"})
    drawn = driver.execute_cdp_cmd("CSS.getPlatformFontsForNode", {"nodeId": send["nodeId"]})["fonts"]
    assert [f["familyName"] for f in drawn] == ["Sarabun"], f"the LINE send button (ส่ง) is drawn in {drawn}"


def test_8_a_tap_on_the_rich_menu_sends_its_action(page):
    page.choose_patient("john")
    if page.one("[data-testid=richmenu-toggle]").get_attribute("aria-expanded") != "true":
        page.one("[data-testid=richmenu-toggle]").click()  # the keyboard closed it, as in LINE
    hours = page.until(lambda: next((a for a in page.all("[data-testid=richmenu-area]")
                                     if "เวลาทำการ" in a.get_attribute("aria-label") and a.is_displayed()), None),
                       "the opening-hours area of the rich menu")
    before = len(page.bot_messages())
    hours.click()
    page.until(lambda: page.all('[data-testid=patient-message][data-from="patient"]')[-1].text == "เวลาทำการ",
               "the area's displayText in the patient's chat")
    page.bot_says("เวลาทำการ", before)  # the postback action=topic&id=hours, answered by the bot
    page.look("8-rich-menu")
