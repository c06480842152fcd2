"""The sandbox serving two hospitals (``SANDBOX_HOSPITALS``): the cases that would leak between hospitals,
as a person tries them on the page.

The sandbox writes a registry of two made-up hospitals (``bot/sandbox_hospitals.py``) and serves it: each
hospital's webhooks on its own path, verified with its own secrets, each simulated provider telling the
hospitals apart by the credential presented. Both hospitals serve the same patients under the same LINE
user ids, and both LiveDesk accounts number conversations from the same start. Jobs run in a real RQ
worker serving both hospitals' queues (``workers.hospitals``).
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from bot.sandbox_settings import SANDBOX_HOSPITALS
from handlers.sandbox.people import PATIENTS
from tests.handlers.sandbox.conftest import _serve
from tests.support import wait_for
from workers.__main__ import build_worker

SOMCHAI, MALEE, JOHN = PATIENTS
SAMPLE = Path(__file__).resolve().parents[3] / "handlers" / "sandbox" / "static" / "sample_appointments.csv"
#: What each hospital's knowledge base says its outpatient hours are: the shipped one's, the second's.
HOURS = {"a": "จันทร์–ศุกร์ 08:00–16:00 น.", "b": "จันทร์–เสาร์ 07:00–15:00 น."}


@pytest.fixture
def two(redis_server, redis, jobs_here, tmp_path):
    for running in _serve(redis_server, redis, sandbox_hospitals=True, var_dir=str(tmp_path)):
        hospitals = running.app.extensions["hospitals"]
        jobs_here(hospitals)  # each job its hospital's services, by the queue it came from
        running.work = lambda h=hospitals: build_worker(h, connection=redis).work(burst=True)
        yield running


def ui(two, hospital: str, path: str, **kwargs):
    """A request of the page showing ``hospital``."""
    method = two.post if "json" in kwargs or "files" in kwargs or "data" in kwargs else two.get
    return method(path, params={"hospital": hospital, **kwargs.pop("params", {})}, **kwargs)


def panels(two, hospital: str, patient, conversation: str = "") -> dict:
    return ui(two, hospital, "/sandbox/ui/state", params={"patient": patient.key, "conversation": conversation}
              ).json()["panels"]


def chat(two, hospital: str, patient) -> list[dict]:
    """What the patient's LINE shows in the chat with that hospital's account."""
    key = f"sandbox:h:{hospital}:line:chat:{patient.user_id}"
    return [json.loads(raw) for raw in two.store.redis.lrange(key, 0, -1)]


def bot_text(entries: list[dict]) -> str:
    return json.dumps([e["messages"] for e in entries if e["from"] == "bot"], ensure_ascii=False)


def say(two, hospital: str, patient, text: str) -> None:
    assert ui(two, hospital, f"/sandbox/ui/patients/{patient.key}/messages", json={"text": text}).status_code == 202


def answered(two, hospital: str, patient, bot_entries: int) -> list[dict]:
    """The chat once it holds ``bot_entries`` of the bot's, the worker running meanwhile."""
    def done():
        two.work()
        entries = chat(two, hospital, patient)
        return entries if sum(e["from"] == "bot" for e in entries) >= bot_entries else None
    return wait_for(done, timeout=60, what=f"hospital {hospital}'s answer to {patient.key}")


def test_the_sandbox_writes_a_registry_of_two_hospitals_and_serves_both(two, tmp_path):
    hospitals = two.app.extensions["hospitals"]
    assert [h.id for h in hospitals.registry.hospitals()] == ["a", "b"] and hospitals.registry.problems() == {}
    directory = tmp_path / "sandbox-hospitals"
    for hid, values in SANDBOX_HOSPITALS.items():
        text = (directory / f"{hid}.toml").read_text(encoding="utf-8")
        assert values["line_channel_secret"] not in text and "file:" in text  # secrets by reference only
        secret = directory / "secrets" / f"{hid}.line_channel_secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    page = two.get("/").text
    assert page.count('data-testid="hospital-tab"') == 2 and "โรงพยาบาลบ้านนาตัวอย่าง" in page
    assert "Mon-Sun 00:00-24:00" in page and "Mon-Sat 07:00-15:00" in page  # each hospital's staff hours
    assert '</span> โรงพยาบาลตัวอย่าง</div>' in page  # the first hospital's chat, unless asked for another
    second = two.get("/", params={"hospital": "b", "patient": MALEE.key}).text
    assert '</span> โรงพยาบาลบ้านนาตัวอย่าง</div>' in second and 'hospital: "b"' in second
    assert 'window.SANDBOX = {patient: "malee"' in second  # the patient chosen stays chosen
    assert two.get("/", params={"hospital": "zz"}).status_code == 404
    assert ui(two, "zz", "/sandbox/ui/state").status_code == 404
    assert two.post("/h/a/callback", data=b"{}").status_code == 400  # each hospital's path (unsigned: refused)
    assert two.post("/callback", data=b"{}").status_code == 404  # no path without a hospital


def test_one_line_user_two_hospitals_each_answers_from_its_own_knowledge_base(two):
    for hospital in ("a", "b"):
        say(two, hospital, SOMCHAI, "เปิดกี่โมง")
    answers = {hospital: bot_text(answered(two, hospital, SOMCHAI, 1)) for hospital in ("a", "b")}
    assert HOURS["a"] in answers["a"] and HOURS["b"] not in answers["a"]
    assert HOURS["b"] in answers["b"] and HOURS["a"] not in answers["b"] and "บ้านนาตัวอย่าง" in answers["b"]
    webhooks = {line["hospital"] for line in two.traffic("line") if line["what"] == "webhook message"
                and line["status"] == 200}
    assert webhooks == {"a", "b"}  # each signed with its secret, to its path, for its bot
    tabs = panels(two, "b", SOMCHAI)["hospitals"]
    assert tabs.count('data-entries="2"') == 2 and 'aria-current="page"' in tabs.split('data-hospital="b"')[1]


def test_conversation_ids_start_alike_and_a_staff_reply_reaches_only_its_hospitals_chat(two):
    for hospital in ("a", "b"):
        say(two, hospital, MALEE, "คุยกับเจ้าหน้าที่")
        answered(two, hospital, MALEE, 1)

    def conversations():
        two.work()
        found = {h: panels(two, h, MALEE)["conversation"] for h in ("a", "b")}
        return found if all(found.values()) else None
    found = wait_for(conversations, timeout=60, what="a conversation on each hospital's desk")
    assert found["a"] == found["b"], "both LiveDesk accounts number their conversations from the same start"
    number = found["b"]

    seen_a = len(chat(two, "a", MALEE))
    reply = "พยาบาลบ้านนารับเรื่องแล้วค่ะ"
    assert ui(two, "b", f"/sandbox/ui/desk/{number}/messages", json={"content": reply}).status_code == 202
    pushed = wait_for(lambda: (two.work(), [e for e in chat(two, "b", MALEE) if e["from"] == "bot"
                                            and reply in json.dumps(e["messages"], ensure_ascii=False)])[1],
                      timeout=60, what="B's agent's reply on B's chat")
    assert pushed[0]["via"] == "push"
    two.work()
    assert reply not in json.dumps(chat(two, "a", MALEE), ensure_ascii=False)
    assert len(chat(two, "a", MALEE)) == seen_a  # nothing at all reached the chat with A
    assert reply not in panels(two, "a", MALEE, number)["desk-messages"]  # nor A's conversation of that number
    assert reply in panels(two, "b", MALEE, number)["desk-messages"]

    # A photo sent to B: on the patient's screen and B's desk, from B's simulated LINE and LiveDesk only.
    assert ui(two, "b", f"/sandbox/ui/patients/{MALEE.key}/events", json={"type": "image"}).status_code == 202

    def on_bs_desk():
        two.work()
        desk = panels(two, "b", MALEE, number)["desk-messages"]
        return desk if 'data-type="image"' in desk else None
    desk = wait_for(on_bs_desk, timeout=60, what="the photo on B's desk")
    picture = desk.split('data-type="image"><img src="', 1)[1].split('"', 1)[0][len(two.url):].replace("&amp;", "&")
    assert picture.endswith("?hospital=b") and two.get(picture).content.startswith(b"\x89PNG")
    assert two.get(picture.replace("hospital=b", "hospital=a")).status_code == 404
    shown = re.search(r'src="(/sandbox/ui/line-content/\d+\?hospital=b)"', panels(two, "b", MALEE)["chat"]).group(1)
    assert two.get(shown).content.startswith(b"\x89PNG")
    assert two.get(shown.replace("hospital=b", "hospital=a")).status_code == 404


def test_each_hospitals_his_sends_its_own_appointments_with_the_same_ids(two):
    """The same CSV (appointment ids SBX-1001…) uploaded by both hospitals: both hospitals' notices are sent."""
    for hospital in ("a", "b"):
        answer = ui(two, hospital, "/sandbox/ui/his/upload",
                    files={"file": ("sample.csv", SAMPLE.read_bytes(), "text/csv")})
        assert answer.json() == {"rows": 4, "queued": 3, "invalid": 1}

    def sent():
        two.work()
        his = {h: panels(two, h, SOMCHAI)["his"] for h in ("a", "b")}
        return his if all("4 แถว: ส่งแล้ว 3, ไม่ถูกต้อง 1" in text for text in his.values()) else None
    his = wait_for(sent, timeout=60, what="both hospitals' notices sent")
    assert [text.count("4 แถว") for text in his.values()] == [1, 1]  # each HIS panel its hospital's upload only
    notices = panels(two, "a", SOMCHAI)["moph"]  # หมอพร้อม is the patient's: one app, both hospitals
    assert notices.count('data-from-hospital="a"') == 3 and notices.count('data-from-hospital="b"') == 3
    assert "โรงพยาบาลบ้านนาตัวอย่าง" in notices


def test_a_phone_verified_in_one_hospital_is_not_verified_in_the_other(two):
    say(two, "b", JOHN, "ยืนยันตัวตน")
    answered(two, "b", JOHN, 1)
    say(two, "b", JOHN, JOHN.phone)
    sms = wait_for(lambda: (two.work(), [m for m in two.store.items("sms") if m["to"] == JOHN.phone])[1],
                   timeout=60, what="the OTP SMS on John's phone")
    assert sms[0]["hospital"] == "b"
    assert 'data-from-hospital="b"' in panels(two, "a", JOHN)["sms"]  # the one phone, on either page
    say(two, "b", JOHN, re.search(r"\b(\d{6})\b", sms[0]["text"]).group(1))

    def verified():
        two.work()
        contact = panels(two, "b", JOHN)["contact"]
        return contact if "verified" in contact else None
    assert JOHN.phone in wait_for(verified, timeout=60, what="B's Oho contact with the phone, verified")
    assert "verified" not in panels(two, "a", JOHN)["contact"] and JOHN.phone not in panels(two, "a", JOHN)["contact"]
    wait_for(lambda: any(line["what"].startswith("sepsms dr.success") and line["status"] == 200
                         and line["hospital"] == "b" for line in two.traffic("sms")),
             timeout=30, what="the delivery report, to B's path")
