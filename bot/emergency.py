"""Recognising an emergency in a patient's message: a safety function, not a fuzzy match.

Every text message goes through ``detect`` before any other matcher, in every
conversation state. It is built from symptom families, each with Thai,
colloquial and English forms, and errs on the side of alarm: a false alarm
costs a patient one extra "call 1669" answer, a miss can cost a life. So the
patterns are broad (a symptom word with a few characters of context), and the
only exclusions are everyday words that merely contain a symptom's letters
(ชักโครก is a toilet flush, not a seizure; ล้มเหลว is failure, not a fall).

Thai is matched on the normalised message with its spaces removed (Thai is
written without them, and patients put them anywhere); English and Thai-English
mixes on the normalised message with single spaces.

Thoughts of self-harm or suicide also get the Department of Mental Health's
hotline 1323 besides 1669.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.text import normalize

MAX_CHARS = 2000          # more than any message; keeps a pasted essay cheap to scan
EMERGENCY_LINE = "1669"   # Thailand's emergency medical service
MENTAL_HEALTH_LINE = "1323"  # Department of Mental Health hotline, 24 hours

SELF_HARM_MESSAGE = {
    "type": "text",
    "text": ("💛 คุณไม่ได้อยู่คนเดียวนะคะ หากมีความคิดทำร้ายตัวเองหรืออยากตาย "
             "โทรสายด่วนสุขภาพจิต 1323 ได้ตลอด 24 ชั่วโมง (ฟรี) มีคนพร้อมรับฟังค่ะ\n"
             "หากได้ทำร้ายตัวเองแล้ว หรือกำลังจะทำ โทร 1669 ทันทีค่ะ\n\n"
             "You are not alone. Call the mental health hotline 1323 (free, 24 hours). "
             "If you have hurt yourself or are about to, call 1669 now."),
}


@dataclass(frozen=True)
class Family:
    id: str
    thai: re.Pattern          # on the compact message (no spaces)
    spaced: re.Pattern | None  # on the spaced message: English and Thai-English mixes
    hotlines: tuple[str, ...] = (EMERGENCY_LINE,)


@dataclass(frozen=True)
class Emergency:
    family: str
    hotlines: tuple[str, ...]

    @property
    def self_harm(self) -> bool:
        return MENTAL_HEALTH_LINE in self.hotlines


def _family(family_id: str, thai: list[str], english: list[str], hotlines=(EMERGENCY_LINE,)) -> Family:
    spaced = re.compile(r"\b(?:" + "|".join(english) + r")") if english else None
    return Family(family_id, re.compile("|".join(thai)), spaced, tuple(hotlines))


_WHO = r"(?:my|his|her|their|our|the|a)"
_SEIZURE_NOT = r"(?!จะ|ชวน|ช้า|จูง|นำ|ใย|ว่าว|โครก|เย่อ|ธง|สีหน้า|หน้า|แม่น้ำ|รอก|ไม่แน่ใจ|เริ่ม|ภาพ|ดาบ)"

# Self-harm first: a message that names it gets 1323 whatever else it says.
FAMILIES: tuple[Family, ...] = (
    _family("self_harm", [
        r"ฆ่าตัวตาย", r"ทำร้ายตัวเอง", r"ทำร้ายตนเอง", r"อยาก(?:จะ)?ตาย", r"ไม่อยาก(?:จะ)?(?:อยู่|มีชีวิต)",
        r"อยากหายไป", r"จบชีวิต", r"ปลิดชีพ", r"ปลิดชีวิต", r"กรีด(?:ข้อมือ|แขน|ตัว|ตัวเอง)",
        r"กระโดด(?:ตึก|สะพาน|น้ำตาย|ลงไปตาย|จากตึก)", r"ผูกคอ", r"แขวนคอ", r"กินยาตาย", r"ไม่อยากตื่น",
        r"อยู่ไปก็ไม่มีประโยชน์", r"ไม่มีเหตุผลที่จะอยู่", r"หมดหวังกับชีวิต", r"ไม่ไหวกับชีวิต",
        r"ชีวิตไม่มีค่า", r"ตายๆไป", r"ตายไปซะ",
    ], [
        r"suicid", r"kill(?:ing)? (?:my|him|her|them)sel(?:f|ves)", r"end(?:ing)? (?:it all|(?:my|his|her) (?:own )?life)", r"(?:want|wanna|going|gonna) (?:to )?die", r"self ?harm", r"hurt(?:ing)? myself",
        r"cut(?:ting)? myself", r"no reason to live", r"dont want to (?:live|be alive|wake up|exist)",
        r"better off dead", r"take my (?:own )?life",
    ], hotlines=(MENTAL_HEALTH_LINE, EMERGENCY_LINE)),
    _family("breathing", [
        r"หายใจ(?:ไม่ค่อย|แทบ(?:จะ)?ไม่|ไม่)(?:ออก|ได้|ทัน|สะดวก|อิ่ม|เข้า)", r"หายใจ(?:ลำบาก|ติดขัด|ขัด|ยาก|หอบ|เร็ว|แรง|มีเสียง|ครืดคราด|ไม่ปกติ)",
        r"ไม่หายใจ", r"หยุดหายใจ", r"ไม่มีลมหายใจ", r"หอบ(?:เหนื่อย|มาก|หนัก|แรง|จน|หืด)", r"เหนื่อยหอบ",
        r"(?:ปาก|ตัว|ริมฝีปาก|หน้า)(?:ม่วง|เขียว)", r"เขียวคล้ำ", r"หายใจไม่",
    ], [
        r"(?:cant|cannot|can not|couldnt|hardly|barely|unable to|trouble|difficult\w*|struggl\w*|hard to|short of|shortness of|not|stopped|no|problem) ?(?:to )?breath",
        r"breathless", r"gasping", r"wheez", r"catch \w+ breath", r"asthma attack", r"breathing (?:problem|difficult|hard|fast)",
        r"turn(?:ing|ed)? blue", r"lips? (?:are |is |turning )?blue", r"breath\w* ?ไม่",
    ]),
    _family("chest_pain", [
        r"(?:เจ็บ|แน่น|ปวด|จุก|บีบ|เสียด|ร้าว)(?:แน่น|จี๊ด|ตรง|ที่|บริเวณ|แถว)?(?:หน้า|กลาง)?อก(?!หัก)", r"(?:จุก|แน่น|เจ็บ)ลิ้นปี่", r"(?:เจ็บ|แน่น|ปวด|จุก)(?:แน่น)?หน้าออก",
        r"หัวใจ(?:หยุดเต้น|วาย|ล้มเหลว|เต้นผิดจังหวะ|เต้นเร็วมาก|จะวาย|จะหยุด)", r"ไม่มีชีพจร", r"คลำชีพจรไม่", r"ใจสั่นจะเป็นลม",
        r"ร้าวไป(?:แขน|กราม|คอ|หลัง)",
    ], [
        r"chest (?:\w+ ){0,5}(?:pain|hurt|tight|pressure|discomfort|ache|crush|squeez|heavy)", r"crushing (?:pain|feeling)", r"pain in (?:my|his|her|the) chest", r"heart attack",
        r"cardiac arrest", r"no pulse", r"heart (?:has )?stopped", r"chest ?(?:เจ็บ|แน่น|ปวด)", r"(?:เจ็บ|แน่น|ปวด) ?chest",
        r"chest pain",
    ]),
    _family("unconscious", [
        r"หมดสติ", r"ไม่ได้สติ", r"ไม่รู้สึกตัว", r"ไม่ค่อยรู้สึกตัว", r"สลบ", r"เป็นลม(?!พัด)", r"ล้มฟุบ", r"ฟุบ(?:ลง|ไป)",
        r"ทรุดลง", r"ล้มทั้งยืน", r"ปลุกไม่ตื่น", r"เรียกไม่ตื่น", r"เรียกไม่(?:ตอบ|ได้ยิน|รู้สึก)", r"ไม่ตอบสนอง", r"(?:นอน|ตัว)ไม่ขยับ", r"ไม่ขยับตัว",
        r"นอนนิ่ง", r"หน้ามืด", r"วูบ", r"ช็อ[กค](?!โก)", r"ซึมลง", r"ไม่ฟื้น", r"โคม่า",
    ], [
        r"collaps", r"pass(?:ed|ing|es)? out", r"faint", r"unconscious", r"unresponsive", r"wont wake", r"not waking",
        r"cant wake", r"not respond", r"not moving", r"black(?:ed|s)? out", r"man down", r"knocked out",
        r"(?:dad|mom|mum|mother|father) ?(?:หมดสติ|เป็นลม)", r"not breathing", r"lost consciousness",
    ]),
    _family("stroke", [
        r"ปาก(?:เบี้ยว|ตก|เบี่ยง|เบ้)", r"หน้า(?:เบี้ยว|ตก|เบี่ยง|ชาครึ่ง)", r"มุมปากตก", r"อ่อนแรง", r"ครึ่งซีก",
        r"ซีก(?:ซ้าย|ขวา|เดียว|หนึ่ง)", r"(?:ชา|อ่อน|ไม่มีแรง|เบี้ยว|ยกไม่ขึ้น).{0,12}ข้าง(?:เดียว|นึง|หนึ่ง|ซ้าย|ขวา)",
        r"ข้าง(?:เดียว|นึง|หนึ่ง|ซ้าย|ขวา).{0,12}(?:ชา|อ่อน|ไม่มีแรง|เบี้ยว|ยกไม่ขึ้น)", r"ยก(?:แขน|ขา).{0,6}ไม่ขึ้น",
        r"แขน(?:ขา)?ยกไม่ขึ้น", r"พูด(?:ไม่ชัด|ไม่ได้|ไม่รู้เรื่อง|ลำบาก|ติดขัด|ไม่ออก|อ้อแอ้|ไม่เป็นคำ|ไม่เป็นภาษา|ช้าลง)", r"ลิ้นแข็ง",
        r"ลิ้นคับปาก", r"สโตรก", r"อัมพฤกษ์", r"อัมพาต", r"เส้นเลือดในสมอง", r"หลอดเลือดสมอง", r"ตามัวข้างเดียว",
        r"มองไม่เห็น(?:ทันที|ข้างเดียว)", r"ปวดหัว(?:รุนแรง|มากที่สุด|เหมือนจะระเบิด)",
    ], [
        r"stroke", r"droop", r"slurr", r"(?:weak|numb)\w* (?:on )?(?:one|1|left|right|the left|the right) side",
        r"one side\w* (?:of \w+ )?(?:body |face )?(?:is )?(?:weak|numb|droop)", r"cant (?:move|lift|raise|feel) (?:his|her|my) (?:arm|leg|face)",
        r"speech (?:problem|difficult|is slurred)", r"cant speak (?:properly|clearly)", r"face (?:is )?(?:numb|crooked)",
        r"paraly[sz]",
    ]),
    _family("bleeding", [
        r"เลือด(?:ออก|ไหล)", r"เลือด(?:พุ่ง|ทะลัก|ท่วม|โชก|อาบ|สาด|ไม่หยุด)", r"ตกเลือด",
        r"(?:อาเจียน|อ้วก|ไอ|ถ่าย|ขี้|ฉี่|ปัสสาวะ|บ้วน)(?:ออกมา)?เป็นเลือด", r"แผลลึก", r"แผลใหญ่", r"แผลเหวอะ",
        r"(?:มีด|แก้ว|กระจก|เลื่อย|ใบมีด)บาด", r"เลือดกำเดา.{0,6}ไม่หยุด",
    ], [
        r"bleed", r"blood (?:is )?(?:everywhere|pouring|gushing|spurting)", r"(?:so much|lots of|a lot of|too much) blood", r"(?:vomit\w*|cough\w*|throw\w* up|spit\w*) (?:up )?blood",
        r"blood in (?:his|her|my) (?:vomit|stool|urine)", r"bloody (?:stool|vomit|diarrh)", r"ha?emorrhag", r"deep cut",
        r"wont stop bleeding",
    ]),
    _family("seizure", [
        r"ชัก" + _SEIZURE_NOT, r"ลมบ้าหมู", r"ลมชัก", r"เกร็งกระตุก", r"ตัวเกร็ง", r"ตาค้าง", r"ตาเหลือก", r"น้ำลายฟูมปาก",
        r"กระตุกทั้งตัว", r"กระตุกไม่หยุด",
    ], [
        r"seiz", r"convuls", r"foam\w* at the mouth", r"(?:is|was|keeps|started) shaking", r"(?:having|had|has|in|throwing) (?:a )?fit\b", r"epilep", r"shaking uncontrollabl", r"jerking",
    ]),
    _family("fall_head_injury", [
        r"หกล้ม", r"ลื่นล้ม", r"ล้ม(?!เหลว|ละลาย|เลิก|ป่วย|ล้าง|หมอน|ลุก|ทับ)", r"(?:หัว|ศีรษะ)(?:ฟาด|กระแทก|แตก|โน|ชน|ทิ่ม)",
        r"ตกจาก", r"ตก(?:บันได|ที่สูง|ตึก|ต้นไม้|หลังคา|เตียง|นั่งร้าน|ระเบียง)", r"ตกลงมา", r"กระดูก(?:หัก|โผล่|ทิ่ม)",
        r"(?:ขา|แขน|คอ|หลัง|สะโพก)หัก", r"กระแทกพื้น",
    ], [
        r"fell(?! asleep| in love)", r"fall(?:en|ing)? (?:down|off|from|over)", r"hit (?:his|her|my|their) head", r"head (?:injur|trauma|wound)",
        r"bang(?:ed)? (?:his|her|my) head", r"broken (?:bone|leg|arm|neck|hip)", r"fractur", r"bone (?:is )?sticking out",
        r"tripped", r"slipped and",
    ]),
    _family("accident", [
        r"อุบัติเหตุ", r"รถชน", r"ชนกัน", r"(?:โดน|ถูก)(?:รถ)?ชน", r"(?:โดน|ถูก)รถ", r"รถคว่ำ", r"รถล้ม", r"มอ(?:เตอร์)?ไซ(?:ค์|ด์)?ล้ม",
        r"จมน้ำ", r"ตกน้ำ", r"ไฟ(?:ฟ้า)?(?:ดูด|ช็อต|ช็อก)", r"(?:ถูก|โดน)(?:แทง|ยิง|ทำร้าย|ฟัน|ตี|ทุบ|ทับ)", r"ทะเลาะวิวาท",
        r"ระเบิด", r"บาดเจ็บ", r"เจ็บหนัก", r"อาการหนัก", r"สาหัส", r"คนเจ็บ", r"ติดอยู่ในรถ", r"ถูกทับ", r"ทับขา",
    ], [
        r"accidents?\b", r"crash(?:ed)?\b", r"hit by (?:a |the )?(?:car|truck|bus|motorbike|motorcycle|bike|vehicle)", r"run over",
        r"drown", r"electrocut", r"electric shock", r"stab(?:bed|bing|s)?\b", r"(?:got|been|was|were|is|has been) shot", r"gunshot", r"shooting",
        r"injur", r"(?:badly|seriously|severely) hurt", r"hurt (?:badly|seriously)", r"attacked", r"assault", r"explosion",
        r"trapped",
    ]),
    _family("burn", [
        r"(?:ไฟ|น้ำร้อน|น้ำมัน(?:ร้อน)?|ไอน้ำ|สารเคมี|กรด|โซดาไฟ)(?:ลวก|ไหม้|กระเด็น|ลุก)", r"ไฟไหม้", r"แผลไหม้", r"แผลพุพอง",
        r"แผลพอง", r"(?<!ไข่)ลวก(?!ผัก|เส้น|หมู|ไข่)", r"สารเคมี.{0,12}(?:ตา|ผิว|หน้า)", r"(?:เข้า|โดน)ตา.{0,6}สารเคมี", r"ไฟช็อต",
    ], [
        r"burn", r"scald", r"boiling (?:water|oil)", r"chemical\w* (?:in|on) (?:his|her|my|the) (?:eye|skin|face)", r"acid (?:burn|splash|in|on)", r"(?:threw|thrown|splashed) acid",
        r"on fire",
    ]),
    _family("poisoning_overdose", [
        r"กินยา.{0,8}(?:เกิน|ผิด|เยอะ|หมด|ทั้งแผง|ทั้งขวด|หลายเม็ด|ฆ่า|\d+เม็ด)", r"ยาเกินขนาด", r"ยาฆ่า(?:แมลง|หญ้า|หนู)",
        r"ยาเบื่อ", r"ยาพิษ", r"(?:กิน|ดื่ม|กลืน|ดูด)(?:.{0,4})(?:น้ำยา|สารเคมี|น้ำมัน|ผงซักฟอก|น้ำกรด|ไฮเตอร์|โซดาไฟ)",
        r"พิษ(?!ณุ)", r"น้ำยาล้าง", r"ไฮเตอร์", r"เมา(?:เห็ด|ยา)", r"สูดควัน", r"แก๊สรั่ว", r"สำลักควัน",
    ], [
        r"overdos", r"too many (?:\w+ )?(?:pills|tablets|meds|medicine|paracetamol)", r"poison", r"swallow", r"bleach",
        r"pesticide", r"weed ?killer", r"insecticide", r"herbicide", r"paraquat", r"kerosene", r"drain cleaner", r"antifreeze", r"drank (?:\w+ )?(?:bleach|chemical|detergent|cleaner|kerosene)", r"carbon monoxide",
    ]),
    _family("bite_sting", [
        r"(?:งู|หมา|สุนัข|แมว|ลิง|หนู|ตะขาบ|แมงป่อง|แมงมุม|ปลาไหล|จระเข้|สัตว์|ม้า|วัว|ควาย|ตัวเงินตัวทอง|แมงกะพรุน)(?:.{0,6})(?:กัด|ข่วน|ฉก|ขวิด|เหยียบ|ทำร้าย)",
        r"(?:ผึ้ง|แตน|แมงป่อง|แมลง|ตัวต่อ|ต่อหัวเสือ|แมงกะพรุน|ปลากระเบน)(?:.{0,6})ต่อย", r"งู(?:เห่า|กะปะ|เขียวหางไหม้|จงอาง|พิษ|แมวเซา|สามเหลี่ยม)",
        r"(?:โดน|ถูก)(?:.{0,4})กัด", r"พิษสุนัขบ้า",
    ], [
        r"(?:snake|dog|cat|monkey|rat|animal|spider|scorpion|centipede)s? ?(?:bite|bit|bitten)", r"bitten", r"stung", r"bee stings?",
        r"rabies", r"jellyfish",
    ]),
    _family("choking", [
        r"สำลัก", r"ติดคอ(?!น|ม)", r"ติดหลอดลม", r"กลืน(?:เหรียญ|ของ|ถ่าน|แบต|ลูกอม|ของเล่น).{0,6}(?:ลง|เข้าไป|ติด)?", r"ก้าง(?:ปลา)?ติด",
    ], [
        r"chok", r"stuck in (?:his|her|my|the) throat", r"something in (?:his|her|my) throat", r"cant swallow",
    ]),
    _family("allergy", [
        r"แพ้.{0,20}(?:บวม|ผื่น|หายใจ|ลมพิษ|ช็อก|ช็อค|หน้ามืด|คันทั้งตัว)", r"ลมพิษ", r"(?:ปาก|หน้า|ตา|คอ|ลิ้น|ริมฝีปาก|ตัว|หนังตา)บวม",
        r"บวมทั้งตัว", r"แพ้(?:ยา|อาหาร)?รุนแรง", r"แพ้(?:อย่าง)?หนัก",
    ], [
        r"anaphyla", r"allergic (?:reaction|shock|attack)", r"severe allerg", r"(?:throat|tongue|lips?|face|mouth|eyes?) (?:is |are )?(?:swell|swollen|puff)",
        r"swelling", r"hives", r"epipen", r"allergic",
    ]),
    _family("pregnancy", [
        r"(?:ตั้งครรภ์|ตั้งท้อง|คนท้อง|ครรภ์|ท้อง\d+(?:เดือน|สัปดาห์|วีค)|ท้องแก่|ท้องอ่อน|มีครรภ์|(?:ภรรยา|เมีย|แฟน|ลูกสาว)(?:กำลัง)?ท้อง)"
        r".{0,25}(?:เลือด|น้ำเดิน|ปวดท้อง|เจ็บท้อง|ชัก|บวม|ดิ้นน้อย|ไม่ดิ้น|มีน้ำ|แท้ง|ปวดหัว|ตาพร่า|คลอด|ตกขาว)",
        r"น้ำเดิน", r"น้ำคร่ำ", r"เจ็บท้อง(?:คลอด|จะคลอด)", r"จะคลอด", r"กำลังคลอด", r"คลอดลูก", r"ปวดท้องคลอด",
        r"ดิ้นน้อย", r"ไม่ดิ้น(?!รน)", r"แท้ง", r"ครรภ์เป็นพิษ", r"ท้องนอกมดลูก", r"ช่องคลอด", r"ตกเลือด",
    ], [
        r"pregnan\w*.{0,40}(?:bleed|pain|cramp|spotting|water|contraction|seiz|not moving|fluid|headache|swell)",
        r"waters? (?:has |have |just )?(?:broke|broken|breaking)", r"in labou?r", r"going into labou?r", r"contraction",
        r"miscarr", r"giving birth", r"baby (?:is )?coming", r"baby (?:is not|isnt|not|stopped|has stopped) moving", r"ectopic",
        r"eclampsia",
    ]),
    _family("general", [
        r"ฉุกเฉิน", r"เหตุด่วน", r"ด่วนมาก", r"ด่วนที่สุด", r"ช่วยด้วย", r"รถพยาบาล", r"(?<!\d)1669(?!\d)", r"อาการแย่",
        r"อาการทรุด", r"ใกล้ตาย", r"กำลังจะตาย", r"จะไม่รอด", r"ไม่รอดแล้ว", r"หนักมาก(?:ค่ะ|ครับ)?ช่วย",
    ], [
        r"emergenc", r"ambulance", r"urgent", r"sos\b", r"help help", r"dying", r"911\b",
        r"life threatening",
    ]),
)


def detect(text: str) -> Emergency | None:
    """The first symptom family the message names (self-harm first), or None."""
    spaced = normalize(text or "")[:MAX_CHARS]
    if not spaced:
        return None
    compact = spaced.replace(" ", "")
    for family in FAMILIES:
        if family.thai.search(compact) or (family.spaced is not None and family.spaced.search(spaced)):
            return Emergency(family.id, family.hotlines)
    return None
