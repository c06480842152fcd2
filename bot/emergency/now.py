"""Is a danger the message describes happening now?

A family that matched is still not an emergency *now* when the message places it elsewhere:
before the match it negates it ("ไม่เจ็บหน้าอก") or makes it a hypothesis ("ถ้า ... ต้องทำยังไง",
"what should I do if"); anywhere it calls it past and settled ("เมื่อเดือนก่อน ... หมอบอกว่า"),
fiction, homework or news, a pet's, a booking, a road blocked by an accident, a rumour or a
joke, or a word that only looks like a symptom ("ผลเลือดออกยัง"). Words that keep it present
("ตอนนี้เจ็บ", "กำลัง", "right now") win over the past and the settled, not over a hypothesis
or a pet.
"""

from __future__ import annotations

import re

from bot.text import skeleton


# Each reason is looked for in the compact Thai message and in the spaced one. A negation and "เคย"
# count in the danger's own clause, a hypothesis before it ("ถ้า ... ชัก": "if ... a seizure"),
# the others anywhere (_ANYWHERE: the past, a pet, a drama, a booking).
def _either(thai: list[str], english: list[str]) -> tuple[re.Pattern, re.Pattern]:
    return re.compile("|".join(thai)), re.compile(r"\b(?:" + "|".join(english) + r")")


_NEGATED_THAI = re.compile(r"(?:ไม่|ไม่ได้|ไม่มีอาการ|ไม่มี|ไม่ได้มีอาการ|ไม่เคย|ไม่ได้เป็น)$")
_NEGATED_ENGLISH = re.compile(r"\b(?:no|not|without|never had|denies|dont have|doesnt have|didnt have) (?:any )?$")
_ONCE = re.compile(r"(?<!ไม่)(?<!ที่)เคย")
_HYPOTHETICAL = _either(
        [r"(?<!เ)ถ้า", r"หาก(?!ว่าง)", r"สมมติ", r"สมมุติ", r"กรณี", r"เผื่อ", r"วิธี(?:ปฐมพยาบาล|ช่วย|สังเกต|ดูแล|ป้องกัน|รับมือ)",
         r"(?:อาการ|สัญญาณ)(?:เตือน|บ่งบอก)", r"อยาก(?:รู้|ทราบ)(?:ว่า)?", r"ป้องกัน(?:ไม่ให้)?", r"ความรู้เรื่อง", r"ปฐมพยาบาล", r"ควรทำ(?:ยังไง|อย่างไร)เมื่อ",
         r"ทำ(?:ยังไง|อย่างไร)(?:ดี)?เมื่อ", r"รู้ได้(?:ยังไง|อย่างไร)ว่า", r"สังเกต(?:ยังไง|อย่างไร)ว่า"],
        [r"what (?:should|do|to) (?:i |we |you )?do (?:if|when)", r"in case", r"if (?:someone|somebody|a person|a child|my|your|a)\b.{0,60}(?:what|how|should)\b", r"how (?:do|can|to) (?:i |you |we )?(?:tell|know|recogni[sz]e|spot|treat|help|prevent)",
         r"warning signs?", r"what are the (?:signs|symptoms) of", r"first aid", r"suppose", r"what happens (?:if|when)", r"prevent"])
_ANYWHERE = {
    "past": _either(
        [r"เมื่อ(?:\d+)?(?:เดือน|ปี|อาทิตย์|สัปดาห์|ปีใหม่|สงกรานต์)(?:ที่แล้ว|ก่อน)", r"(?:เดือน|ปี|อาทิตย์|สัปดาห์)(?:ที่แล้ว|ก่อน)",
         r"\d+(?:เดือน|ปี|อาทิตย์|สัปดาห์|วัน)(?:ที่แล้ว|ก่อน|มาแล้ว)", r"(?:สอง|สาม|สี่|ห้า|หลาย)(?:เดือน|ปี|อาทิตย์|สัปดาห์)(?:ที่แล้ว|ก่อน)",
         r"ตอนเด็ก", r"สมัยก่อน", r"ปีก่อน", r"ปีกลาย", r"(?:สอง|สาม|สี่|ห้า|หลาย)วัน(?:ที่แล้ว|ก่อน)"],
        [r"last (?:month|year|week|winter|summer)", r"(?:\d+|a|one|two|three|few|several|some) (?:months?|years?|weeks?|days) ago", r"used to",
         r"in (?:january|february|march|april|may|june|july|august|september|october|november|december|(?:19|20)\d\d)",
         r"at (?:the age of )?\d\d\b(?! ?(?:weeks?|wks?|months?|days?|min\w*|hours?|hrs?|am|pm|kg|bpm|degrees|c\b))",
         r"when (?:i|he|she) was (?:a )?(?:kid|child|young)", r"years? back", r"in the past"]),
    "denied": _either(
        [r"ไม่(?:ใช่|ได้)?(?:เหตุ|เรื่อง|กรณี)?ฉุกเฉิน", r"(?<!ได้)ไม่(?:ใช่)?(?:เรื่อง)?ด่วน", r"ถามเฉยๆ", r"(?:แค่|เพียง)(?:อยาก)?(?:ถาม|สอบถาม)", r"ไม่ได้เป็นอะไรมาก", r"ไม่ได้รีบ"],
        [r"(?:not|isnt|is not) (?:an? )?(?:emergency|urgent)", r"no emergency", r"non ?urgent", r"nothing urgent", r"just (?:asking|curious)",
         r"(?:for|as) (?:future )?reference"]),
    "rumour": _either(
        [r"อาการ.{0,15}มีอะไรบ้าง", r"(?:พรุ่งนี้|จะ|ไป)สอบ(?!ถาม)", r"จริง(?:ไหม|มั้ย|หรือ(?:เปล่า)?|ม่าย)", r"แท้บ่", r"แต๊ก่อ", r"ได้ยิน(?:มา)?(?:ว่า|เพิ่นว่า|เขาว่า)", r"ฝันว่า", r"(?:ส่ง|แชร์)ไลน์มา(?:บอก)?ว่า", r"หัวใจจะวายเลย",
         r"555", r"ฮ่าๆ", r"(?:แทบ|เกือบ)(?:จะ)?(?:หัวใจ|เป็นลม|ตาย|ช็อก)"],
        [r"is (?:it|this|that|cough cpr) (?:real|true)", r"chain messages?", r"i heard that", r"dreamt|dreamed", r"lol\b", r"haha", r"almost gave me"]),
    "fiction": _either(
        [r"ละคร", r"(?:ดู|เห็น|เบิ่ง|อ่าน|ใน|ตาม|ออก)ข่าว", r"ข่าว(?:ว่า|เมื่อ|ที่|คน)", r"ดู\w{0,20}(?:anatomy|series)", r"ซีรี(?:ส์|ย์|่ส์)", r"(?:ดู|ใน)หนัง(?!ศีรษะ|หัว)", r"ภาพยนตร์", r"นิยาย", r"การ์ตูน", r"เรียงความ", r"รายงาน(?:ส่ง|เรื่อง|วิชา)",
         r"ทำรายงาน", r"การบ้าน", r"โครงงาน", r"ครูให้", r"อาจารย์ให้", r"(?:ดู|ใน|อ่าน)ข่าว", r"ข่าวว่า", r"ซ้อม(?:แผน|ดับเพลิง|อพยพ)",
         r"อบรม", r"เรียน(?:เรื่อง|วิชา)", r"ข้อสอบ", r"ทดสอบระบบ"],
        [r"drama", r"series", r"movie", r"film", r"novel", r"cartoon", r"essay", r"homework", r"assignment", r"report (?:on|about)", r"school project",
         r"news", r"(?:on|in) (?:tv|youtube|tiktok)", r"anatomy", r"training course", r"drill", r"exams?\b", r"quiz", r"lesson", r"class on"]),
    "pet": _either(
        [r"(?:แมว|หมา|สุนัข|น้องหมา|น้องแมว|ไก่|วัว|ควาย|ปลา|นก|กระต่าย|ม้า)(?:ที่บ้าน|ของ\S{0,6}|ตัว\S{0,4}|ผม|ฉัน|หนู|เรา|ข่อย|กู)?(?:โดน|ถูก|กิน|ชัก|หายใจ|เป็นลม|หมดสติ|ไม่กิน|เลือด)",
         r"สัตวแพทย์", r"หมอ(?:หมา|แมว|สัตว์)", r"กัด(?:หมา|แมว|วัว|ควาย|ไก่)", r"รักษา(?:หมา|แมว|สัตว์)", r"โรงพยาบาลสัตว์", r"คลินิกสัตว์"],
        [r"(?:my|our|the) (?:cat|dog|puppy|kitten|pet|bird|rabbit|cow|buffalo) (?:was|got|is|has|ate|been|just)", r"\bvet\b", r"veterinar"]),
    "booking": _either(
        [r"จอง(?:รถ)?(?:พยาบาล|ฉุกเฉิน)", r"รถพยาบาล.{0,20}(?:งานวิ่ง|วิ่ง|มาราธอน|กีฬา|จอง|เช่า|สแตนด์บาย)",
         r"รถพยาบาล.{0,30}(?:ค่าใช้จ่าย|เท่าไหร่|กี่บาท|ราคา)", r"(?:งานวิ่ง|มาราธอน|งานกีฬา|งานบวช|งานวัด|คอนเสิร์ต|กีฬาสี|บุญบั้งไฟ|งานปอย|แข่งเรือ).{0,30}รถพยาบาล", r"ค่ารถพยาบาล", r"รถพยาบาลค่าใช้จ่าย",
         r"รถพยาบาล.{0,20}(?:ประจำจุด|เฝ้า|สแตน|ตามนัด|ไปตรวจ)"],
        [r"book(?:ing)? (?:an |the )?ambulance", r"ambulance (?:for|at|to cover) (?:a |the |our )?(?:event|marathon|run|race|concert|festival|match|transfer)",
         r"(?:hire|rent) (?:an )?ambulance", r"ambulance (?:fee|cost|price)", r"standby"]),
    "road": _either(
        [r"(?:รถติด|ถนนปิด|ปิดถนน|ทางปิด|ปิดทาง|ทางเลี่ยง|เลี่ยงไป|ทางเข้า.{0,10}(?:ปิด|ติด)|ไปทางไหนดี|ขวางทาง|ที่จอดรถ|ไปไม่ทันนัด)"],
        [r"traffic (?:jam|is)", r"stuck in traffic", r"road (?:is )?(?:closed|blocked)", r"blocking the road", r"detour", r"other way in"]),
    "results": _either(
        [r"(?<!แ)ผล(?:ตรวจ)?(?:เลือด|แล็บ|แลบ|เอกซเรย์|เอ็กซเรย์|ตรวจ)", r"(?:ตรวจ|เจาะ)เลือด.{0,12}(?:ออก|ได้)(?:ยัง|แล้ว|วันไหน|เมื่อไร|กี่วัน)",
         r"(?:กรุ๊ป|หมู่)เลือด", r"บริจาคเลือด", r"ความดันเลือด", r"ไขมันในเลือด", r"น้ำตาลในเลือด(?!ต่ำ|ตก)"],
        [r"(?:blood|lab|test|x ?ray) results?", r"blood (?:type|group|donation|test)", r"donate blood"]),
    "done": _either(
        [r"(?<!อยาก)(?:หาย|ดีขึ้น|ปลอดภัย|ออกจากโรงพยาบาล|ผ่าตัด|ผ่าไป|ล้างแผล|ออกมา|ดี)แล้ว", r"(?:ได้|ให้)กลับบ้านแล้ว", r"หมอ(?:บอก|ว่า|ตรวจ|ให้กลับ)(?:ว่า|แล้ว)?", r"ตรวจแล้ว", r"(?:รักษา|นอนโรงพยาบาล)(?:อยู่)?(?:มา)?แล้ว",
         r"ติดตามผล", r"นัด(?:ติดตาม|ตรวจ|หมอ)", r"กายภาพ", r"ใบรับรองแพทย์", r"ใบเคลม", r"เคลมประกัน", r"ขอประวัติ", r"เวชระเบียน",
         r"(?:ฉีด)?(?:วัคซีน|ยา(?:หมาบ้า|พิษสุนัขบ้า|บาดทะยัก)).{0,12}(?:แล้ว|เข็ม|ก่อน)", r"หลัง.{0,6}(?:ออกจาก|กลับจาก)", r"เข็ม(?:ที่)?(?:สอง|สาม|สี่|ห้า|\d)", r"ย้าย(?:มา)?(?:อยู่)?(?:หอผู้ป่วย|วอร์ด|ward|ห้อง)",
         r"ไม่เป็นอะไร(?:แล้ว|มาก)?", r"อาการดี", r"ยาคุมได้", r"ประจำปี", r"ตรวจ(?:สุขภาพ|หัวใจ|เช็ค)", r"แพ็?คเกจ|แพ็กเกจ",
         r"ร้องเรียน", r"เยี่ยม(?:ได้)?(?:กี่|ไหม|ได้)", r"ออกตรวจ", r"รับยา(?:แทน)?", r"ไปเยี่ยม", r"ต่อยา"],
        [r"(?:is|was|am) (?:fine|ok|okay|better|recovered|stable) now", r"(?:is|am|was|got|feeling|feels) better", r"recovered", r"discharged", r"the doctor (?:said|says|told)",
         r"follow ?up", r"physio", r"certificate", r"insurance claim", r"medical records", r"stable", r"healed", r"check ?up", r"package",
         r"routine", r"records?", r"visa", r"rabies shots?", r"admit"]),
}
#: Reasons that change only some families: the ER as a place or a number to keep is no emergency
#: by itself ("ห้องฉุกเฉินเปิด 24 ชม.ไหม"), and an injury told as slight is a first-aid question.
_INJURIES = ("fall_head_injury", "burn", "bleeding", "bite_sting", "accident")
_FAMILY_REASONS = {
    "general": {"place": _either(
        [r"(?:ห้อง|แผนก|ตึก|หมอ|ที่จอดรถ|ผู้ป่วย|พยาบาล|ศูนย์|เบอร์|แพทย์|นักศึกษา|งาน|ระบบ|จุด|ทาง)(?:ห้อง)?(?:เหตุ)?ฉุกเฉิน",
         r"เบอร์(?:โทร)?(?:ของ)?(?:รถพยาบาล|1669)", r"(?:จด|เก็บ|เซฟ|save)(?:ไว้|เก็บ)", r"เผื่อ(?:ไว้)?ใช้", r"ดูงาน"],
        [r"emergency (?:room|department|dept|ward|medicine|doctor|nurse|parking|number|contact|unit|services?)", r"\ber\b",
         r"observe", r"student"])},
    **{family: {"slight": _either(
        [r"นิดหน่อย", r"นิดเดียว", r"หน้อยเดียว", r"เล็กน้อย", r"เลือดหยุด(?:แล้ว|ละ)", r"ถลอก", r"ไม่พอง", r"ไม่ลึก", r"ยังเดินได้", r"เคล็ด", r"ไม่มีเลือด"],
        [r"a bit\b", r"small (?:cut|burn|scratch|bump|wound|bite)", r"minor", r"slight", r"tiny", r"has stopped", r"stopped bleeding", r"no bleeding"])}
       for family in _INJURIES},
}
_WHERE = re.compile(r"อยู่(?:ไหน|ตรงไหน|ที่ไหน)|ตรงไหน|ทางเข้า|ไปทางไหน|\bwhere\b|\bentrance\b|\bhow do i get\b")
#: Words that keep a danger present, whatever else the message says.
_NOW_THAI = re.compile(r"(?<!ถ้า)ตอนนี้(?:เลย|ก็)?(?:กำลัง|ยัง|เจ็บ|ปวด|หายใจ|แน่น|ชัก|เลือด|ซึม|อาเจียน|อ้วก|มีอาการ|เริ่ม|หมดสติ|ตา|ปาก|หน้า"
                       r"|ไม่(?:หายใจ|รู้สึกตัว|ตื่น|ขยับ|ตอบ))|ตอนนี้.{1,8}(?:หมดสติ|ไม่หายใจ|(?<!กัน)ชัก|เลือด|หายใจไม่|ไม่รู้สึกตัว|เจ็บ|ปวด)"
                       r"|กำลัง(?!จะไป|หา|ใจ)|(?<!ทำไม)เดี๋ยวนี้|อยู่เลย|ยังไม่หยุด"
                       r"|ยัง(?:ไม่)?(?:หายใจ|ชัก|เลือด|หมดสติ|ไม่ฟื้น)|ช่วยด้วย")
_NOW_ENGLISH = re.compile(r"\b(?:right now|just now|(?:and|but) now|now (?:he|she|it|they|i)(?: is|s| has|re| am| cant)|currently|at the moment|is happening|still (?:bleeding|not|having|unconscious|fitting)|please help|help me|hurry)\b")
#: Words that make even a hypothesis present ("ถ้าไม่รีบมา ช่วยด้วย แม่ไม่หายใจ").
_URGENT = re.compile(r"ช่วยด้วย|กำลัง(?!จะไป|หา|ใจ)|เดี๋ยวนี้|(?<!ถ้า)ตอนนี้(?:เลย)?(?:มี|เป็น|กำลัง|หายใจ|ไม่)|\bright now\b|\bplease help\b|\bhelp me\b")
#: Not-now reasons that no present word overrides: a pet's danger stays the pet's, and a hypothesis
#: yields only to urgent words ("ช่วยด้วย", "right now"). Every other reason yields to a present word
#: ("last year a stroke, now his mouth droops again"): recall first.
_KEPT_NOT_NOW = {"pet", "hypothetical"}


def why_not_now(family: str, compact: str, spaced: str, where: tuple[str, int],
                present_in: tuple[str, str]) -> str:
    """Why the danger found at ``where`` (which text, index) is not happening now, or "": a reason
    the message gives, unless a word of ``present_in`` (the message as typed, compact and spaced)
    keeps it present."""
    why = _reason(family, compact, spaced, where)
    if why and why not in _KEPT_NOT_NOW and is_present(*present_in) or why == "hypothetical" and _URGENT.search(
            " ".join(present_in)):
        return ""
    return why


def _reason(family: str, compact: str, spaced: str, where: tuple[str, int]) -> str:
    """The message's reason for the danger at ``where`` not happening now, or "". A negation or a
    "เคย" (once) counts only in the danger's own clause ("แม่ลุกไม่ได้ หมดสติ" is no negated
    unconsciousness). Reasons are never read into a message's words stripped of their marks
    ("ถา" is in ถาม, "ไม" ends ทำไม): such a message stays an emergency."""
    text_name, at = where
    before, after = (spaced if text_name == "spaced" else compact)[:at], (spaced if text_name == "spaced" else compact)[at:]
    clause = spaced[:at if text_name == "spaced" else _spaced_index(spaced, at)].rsplit(" ", 1)[-1]
    if not after.startswith(("ไม่", "not", "no ")) and (
            _NEGATED_THAI.search(clause) or (text_name == "spaced" and _NEGATED_ENGLISH.search(before[-14:]))):
        return "negated"
    if _ONCE.search(clause):
        return "past"
    thai, english = _HYPOTHETICAL
    if thai.search(before.replace(" ", "")) or (text_name == "spaced" and english.search(before)):
        return "hypothetical"
    for reason, (thai, english) in [*_ANYWHERE.items(), *_FAMILY_REASONS.get(family, {}).items()]:
        if reason == "place" and _WHERE.search(f"{compact} {spaced}"):
            continue  # the way to the ER may be asked on the way there
        # A denial is one phrase: "ลุกไม่ได้ ฉุกเฉิน" (cannot get up, emergency) denies nothing.
        if thai.search(spaced if reason == "denied" else compact) or english.search(spaced):
            return reason
    return ""


def _spaced_index(spaced: str, at: int) -> int:
    """Where the ``at``-th character of the compact text (``spaced`` without spaces) stands in ``spaced``."""
    seen = 0
    for index, char in enumerate(spaced):
        if char != " ":
            if seen == at:
                return index
            seen += 1
    return len(spaced)


def strip_marks(text: str, skipped: str) -> str:
    """``text`` without the marks a message skips ("vowels": also the upper and lower vowels)."""
    return skeleton(text, vowels=skipped == "vowels")


def is_present(compact: str, spaced: str) -> bool:
    """Whether the message says the danger is happening now ("ตอนนี้เจ็บ", "right now")."""
    return bool(_NOW_THAI.search(compact) or _NOW_ENGLISH.search(spaced))
