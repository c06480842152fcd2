"""The sandbox page in a real browser: headless Chromium drives the four stories of the README.

The real web server (gunicorn) and a real RQ worker (``python -m workers``) run against the
suite's Redis with SANDBOX on; every step goes through the real webhook, queues, jobs and
clients to the simulators and back. Outside CI a missing browser skips these tests; in CI
(``CI=true``) it fails them.
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
    chromium, chromedriver = _browser_or_skip()
    import redis as redis_lib
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    redis_lib.Redis.from_url(redis_server.url).flushdb()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "VIRTUAL_ENV")}
    env.update(REDIS_URL=redis_server.url, SANDBOX="1", SANDBOX_URL=url, LOG_LEVEL="INFO")
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
        driver.get(url + "/")
        yield Page(driver, url, logs)
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
    assert "check digit" in bad.text

    page.choose_patient("somchai")  # the Flex answer and the quick replies, for the README
    page.until(lambda: page.all('[data-testid=patient-message][data-from="bot"] .flex-bubble'), "Somchai's chat")
    png = page.driver.get_screenshot_as_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(png)
