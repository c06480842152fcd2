"""One name: the knowledge base's ``hospital: name:`` is what a patient reads in the bot's answers,
in MOPH appointment notices, in the OTP SMS and as the rich menu's name; no other setting says it.

MOPH, SEPSMS and ThaiBulkSMS are stubbed at the HTTP boundary (``responses``), LINE by its stub
server; the notice job runs in a real RQ worker.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from bot.appointments import parse_appointment
from bot.knowledge import DEFAULT_FILE
from bot.phone import normalize_thai_mobile
from bot.verification import OtpRules
from tests.conftest import make_settings
from tests.moph_support import MOPH_SETTINGS, SEND_NOW, appointment_row, moph, work  # noqa: F401  (fixture)
from tests.verification_support import PHONE, SMS_SETTINGS, SmsStub
from workers.verification.senders import sms_text

OURS = "โรงพยาบาลบ้านนาทดลอง"
SHORT = "รพ.บ้านนาทดลอง"   # as the SMS writes it


@pytest.fixture
def settings(redis_server, line_stub, tmp_path):
    shipped = DEFAULT_FILE.read_text(encoding="utf-8")
    assert shipped.count('name: "โรงพยาบาลตัวอย่าง"') == 1
    knowledge = tmp_path / "our-knowledge.yaml"
    knowledge.write_text(shipped.replace('name: "โรงพยาบาลตัวอย่าง"', f'name: "{OURS}"'), encoding="utf-8")
    return make_settings(redis_server, line_stub, **{**MOPH_SETTINGS, **SMS_SETTINGS},
                         bot_knowledge_file=str(knowledge))


@pytest.mark.usefixtures("jobs_here")  # work() runs the notice's job in this process
def test_the_knowledge_bases_name_is_in_answers_notices_sms_and_the_rich_menu(services, app, redis, moph,
                                                                              line_stub):
    answer = json.dumps(services.dialog.on_text("เบอร์โทรโรงพยาบาล").messages, ensure_ascii=False)
    assert f"ติดต่อ{OURS}" in answer

    services.appointment_notices.submit([parse_appointment(appointment_row())])
    work(redis)
    [notice] = moph.bodies(SEND_NOW)
    assert notice["messages"][0]["altText"].startswith(f"ยืนยันการนัดหมาย {OURS}")
    assert OURS in json.dumps(notice["messages"][0]["contents"], ensure_ascii=False)

    sms = SmsStub(moph.mock, "sepsms")
    phone = normalize_thai_mobile(PHONE)
    services.verification.codes("sepsms").send("request-1", phone)
    services.verification.codes("thaibulksms").send("request-2", phone)
    template, message = (json.loads(sms.sends[0].request.body)["template"],
                         parse_qs(sms.sends[1].request.body)["message"][0])
    assert template.startswith(f"{SHORT}: รหัส OTP {{code}}") and message.startswith(f"{SHORT}: รหัส OTP ")

    line_stub.expect_request("/v2/bot/richmenu/list", method="GET").respond_with_json({"richmenus": []})
    line_stub.expect_request("/v2/bot/user/all/richmenu", method="GET").respond_with_json({}, status=404)
    line_stub.expect_request("/v2/bot/richmenu", method="POST").respond_with_json({"richMenuId": "richmenu-new"})
    line_stub.expect_request("/v2/bot/richmenu/richmenu-new/content", method="POST").respond_with_json({})
    line_stub.expect_request("/v2/bot/user/all/richmenu/richmenu-new", method="POST").respond_with_json({})
    result = app.test_cli_runner().invoke(args=["line", "richmenu", "install"])
    assert result.exit_code == 0, result.output
    [created] = [r for r, _ in line_stub.log if r.method == "POST" and r.path == "/v2/bot/richmenu"]
    assert created.get_json()["name"].endswith(f" · {OURS}")


def test_the_otp_sms_with_the_shipped_name_fits_one_thai_sms_part():
    # A Thai SMS part holds 70 characters (UCS-2); the code and reference come before the name's end.
    text = sms_text("123456", "AB12", OtpRules(ttl_seconds=600), "โรงพยาบาลตัวอย่าง")
    assert text == "รพ.ตัวอย่าง: รหัส OTP 123456 (Ref: AB12) ใช้ได้ 10 นาที ห้ามบอกผู้อื่น"
    assert len(text) <= 70
    assert sms_text("1", "R", OtpRules(), "ศูนย์การแพทย์ทดลอง").startswith("ศูนย์การแพทย์ทดลอง: ")
