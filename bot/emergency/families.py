"""Symptom families: the situations that are emergencies, as Thai and English patterns.

Thai patterns are matched on the message with its spaces removed (Thai is written without them),
English and Thai-English ones on the spaced message. A family may describe a situation that names
no symptom word (a look-ahead for each of its parts): a baby limp and blue, "indigestion" with a
cold sweat, a rope that is ready. They err on the side of alarm: a miss can cost a life; whether
it is happening now is ``bot.emergency.now``'s question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.emergency.kinds import MEDICAL, POISONING, SELF_HARM, VIOLENCE
from bot.text import skeleton


@dataclass(frozen=True)
class Family:
    id: str
    kind: str
    thai: re.Pattern           # on the compact message (no spaces)
    spaced: re.Pattern | None  # on the spaced message: English and Thai-English mixes
    bare: re.Pattern           # the Thai patterns without tone marks and upper/lower vowels
    toneless: re.Pattern       # the Thai patterns without tone marks


# Patterns with wildcards get no skeleton: without its marks "อุ" (a rice wine) is "อ", and
# ".{0,40}" then finds a "symptom" anywhere.
_LOOSE = re.compile(r"\.|\(\?=")


def _family(family_id: str, kind: str, thai: list[str], english: list[str]) -> Family:
    spaced = re.compile(r"\b(?:" + "|".join(english) + r")") if english else None
    tight = [p for p in thai if not _LOOSE.search(p)]
    return Family(family_id, kind, re.compile("|".join(thai)), spaced,
                  re.compile("|".join(skeleton(p) for p in tight)), re.compile("|".join(skeleton(p, False) for p in thai)))


_SEIZURE_NOT = r"(?!จะ|ชวน|ช้า|จูง|นำ|ใย|ว่าว|โครก|เย่อ|ธง|สีหน้า|หน้า|แม่น้ำ|รอก|ไม่แน่ใจ|เริ่ม|ภาพ|ดาบ)"
_KID = r"(?:ลูก|น้อง|หลาน|เด็ก|ทารก|เบบี้|บักหำ|อีหล้า|baby|infant|toddler|\d+เดือน|\d+ขวบ)"

# Self-harm first: a message that names it gets 1323 whatever else it says; then violence and
# poisoning, whose numbers differ from 1669; then the medical families.
FAMILIES: tuple[Family, ...] = (
    _family("self_harm", SELF_HARM, [
        r"ฆ่าตัวตาย", r"ทำร้ายตัวเอง", r"ทำร้ายตนเอง", r"อยาก(?:จะ)?ตาย", r"ไม่อยาก(?:จะ)?(?:อยู่|มีชีวิต)",
        r"อยากหายไป", r"จบชีวิต", r"ปลิดชีพ", r"ปลิดชีวิต", r"กรีด(?:ข้อมือ|แขน|ตัว|ตัวเอง)",
        r"กระโดด(?:ตึก|สะพาน|น้ำตาย|ลงไปตาย|จากตึก)", r"ผูกคอ", r"แขวนคอ", r"กินยาตาย", r"ไม่อยากตื่น",
        r"อยู่ไปก็ไม่มีประโยชน์", r"ไม่มีเหตุผลที่จะอยู่", r"หมดหวังกับชีวิต", r"ไม่ไหวกับชีวิต",
        r"ชีวิตไม่มีค่า", r"ตายๆไป", r"ตายไปซะ",
        # a plan told without the word: a goodbye letter, a rope, pills saved up to sleep for good
        r"จดหมายลา", r"(?:เขียน|ทิ้ง)(?:จดหมาย|โน้ต|ข้อความ)(?:ลา|บอกลา|สั่งเสีย)", r"สั่งเสีย", r"ลาก่อน(?:ทุกคน|นะ|ตลอดไป)",
        r"(?:เตรียม|ซื้อ|ผูก|มี)เชือก.{0,20}(?:แล้ว|พร้อม|ไว้|คาน|ขื่อ)", r"เชือก.{0,12}(?:พร้อม|เตรียมไว้|ผูกไว้|คาน|ขื่อ)",
        r"(?:เก็บ|สะสม|ตุน|รวบรวม)ยา.{0,50}(?:หลับ|นอน|ไม่ตื่น|ตลอดไป|ยาว)", r"หลับ(?:ไป)?(?:ตลอดกาล|ยาวๆ|ไม่ต้องตื่น|ไม่ตื่น|ตลอดไป)",
        r"นอน(?:หลับ)?(?:ตลอดกาล|ไม่ต้องตื่น|ไม่ตื่นอีก)", r"ไม่ต้อง(?:ตื่น|เจอกัน)อีก", r"คงไม่ได้เจอ(?:กัน)?(?:อีก|แล้ว)",
        r"ฝาก(?:ดูแล|เลี้ยง)(?:ลูก|แม่|พ่อ|แมว|หมา).{0,20}(?:ด้วย|ต่อ).{0,20}(?:ไม่อยู่|ไม่ได้เจอ|ลาก่อน|ไปแล้ว|ไม่ไหว)",
        r"ไม่อยาก(?:เป็น)?ภาระ(?:ใคร|ของ|ให้|อีก)", r"(?:แจก|ยก)ของ(?:ทุกอย่าง|ให้หมด).{0,20}(?:ไม่ได้ใช้|ไม่อยู่|ลาก่อน)",
        r"ไม่อยากอยู่", r"อยู่ไม่ไหวแล้ว", r"จะไม่มี(?:ผม|ฉัน|หนู|เรา|กู|ข่อย)(?:อยู่)?(?:แล้ว|อีก)", r"ขอโทษ(?:ทุกคน)?ที่(?:เป็นภาระ|ทำให้ลำบาก)",
        r"(?:ยืน|นั่ง)(?:อยู่)?(?:บน|ริม)(?:สะพาน|ดาดฟ้า|หลังคา|หน้าผา|ระเบียง).{0,40}(?:ไม่อยาก|พอแล้ว|มองน้ำ|ลาก่อน|จบ|ลมแรง)",
        r"ไม่ต้องตามหา", r"ขับรถ(?:ลง|ชน|พุ่ง)(?:เหว|น้ำ|ต้นไม้|สะพาน|แม่น้ำ)", r"ไม่ต้อง(?:ตื่น|มีใครรู้)(?:แล้ว|อีก)?", r"แผงยา.{0,6}(?:แกะ|ว่าง)หมด", r"(?:โดด|กระโดด)(?:น้ำ|ตึก|สะพาน)?ตาย", r"(?:ยิง|แทง|เผา)ตัว(?:เอง)?ตาย", r"เพื่อ(?:จะ)?ตาย",
        r"คงไม่(?:ได้)?(?:อยู่|กลับ(?:ไป|มา)?|เจอ)(?:กัน)?(?:อีก)?แล้ว", r"ไม่ต้องใช้(?:อะไร)?อีกแล้ว", r"(?:แจก|ยก)ของ.{0,20}(?:หมด|ไม่ต้องใช้)",
        r"เตาถ่าน.{0,20}(?:เทป|ปิดห้อง|ในห้อง)", r"(?:เผา|จุด)ถ่านในห้อง", r"ไม่อยากให้ใคร(?:ลำบาก|เดือดร้อน)",
        r"(?=.*(?:ร่ำลา|ลาก่อน|ขอบคุณที่(?:ดูแล|ผ่านมา)|แจกของ|goodbye|sorryforeverything))(?=.*(?:ปิด(?:มือถือ|เครื่อง|โทรศัพท์)|ติดต่อไม่ได้|โทรไม่ติด|หายไป))", r"ไม่ไหวแล้ว.{0,10}(?:ชีวิต|อยากไป|ลาก่อน)", r"ยาทั้งหมด.{0,10}(?:กิน|กลืน)",
    ], [
        r"suicid", r"kill(?:ing)? (?:my|him|her|them)sel(?:f|ves)", r"end(?:ing)? (?:it all|(?:my|his|her) (?:own )?life)", r"(?:want|wanna|going|gonna) (?:to )?die", r"self ?harm", r"hurt(?:ing)? myself",
        r"cut(?:ting)? myself", r"no reason to live", r"dont want to (?:live|be alive|wake up|exist)",
        r"better off dead", r"take my (?:own )?life", r"goodbye (?:letter|note)", r"(?:wrote|written|writing|left) (?:a |my )?(?:goodbye|farewell|suicide) (?:letter|note)",
        r"rope (?:is )?(?:ready|tied)", r"sleep (?:forever|for good|and never wake)", r"never wake up",
        r"(?:saved|saving|stockpil\w*|collected|hoard\w*) (?:up )?(?:all )?(?:my |the |these )?(?:pills|tablets|meds)",
        r"wont be (?:around|here) (?:much longer|anymore|tomorrow)", r"(?:not|no longer) (?:be )?a burden",
        r"giving (?:away )?(?:all )?my (?:things|stuff) away", r"say(?:ing)? goodbye (?:to everyone|forever)",
        r"(?:going|gonna|threaten\w*) to jump", r"(?:wont|will not|dont) need anything (?:after|anymore)", r"gave away (?:his|her|my|all)",
        r"goodbye (?:message|text|voice)", r"(?:sleep|die) and (?:not|never) wake", r"wrote (?:letters|notes) (?:for|to) everyone",
    ]),
    _family("violence", VIOLENCE, [
        r"(?:ผัว|สามี|แฟน|พ่อเลี้ยง|แม่เลี้ยง|เมีย|ภรรยา|พ่อ|ลูกชาย|พี่ชาย|น้องชาย|ลุง|คนเมา|ขี้เมา|โจร|คนร้าย|ผู้ชาย|เพื่อนบ้าน)"
        r"(?:เมา|มัน)?(?:กำลัง|มา|เข้ามา|มาอีก)?(?:ตี|ทุบ|ต่อย|เตะ|ตบ|ซ้อม|ทำร้าย|บีบคอ|ขู่|ไล่ฟัน|ไล่แทง|ไล่ยิง|ไล่ตี|ถือมีด|ถือปืน|เอามีด|เอาปืน|ลากผม|ข่มขืน|จะฆ่า|ล็อค|ขังไว้|ขัง)",
        r"(?:กำลัง|ยัง)?(?:ถูก|โดน)(?:ผัว|สามี|แฟน|พ่อเลี้ยง|พ่อ|เขา|มัน|คน)?(?:ทุบตี|ตบตี|ซ้อม|ตี|ต่อย|เตะ|ตบ|ทำร้ายร่างกาย|ขู่ฆ่า|ขู่|บีบคอ|ข่มขืน|ลวนลาม|กักขัง|ขังไว้)",
        r"ขู่(?:จะ)?(?:ฆ่า|แทง|ยิง|ทำร้าย|เผา)", r"(?:จะ|มัน)(?:ฆ่า|แทง|ยิง)(?:ฉัน|หนู|เรา|ผม|แม่|ลูก|กู)", r"ถือ(?:มีด|ปืน|ขวาน|ไม้)(?:มา|ไล่|ขู่|อยู่)",
        r"(?:ผัว|สามี|แฟน|พ่อเลี้ยง|พ่อ|เพื่อนบ้าน|ข้างบ้าน|บ้านข้างๆ|ลูกค้า|คนเมา|โจร|คนร้าย)(?:เมา|เหล้า|มัน|กลับ|มา|เข้า|ก็|อีก|แล้ว|กำลัง|ขี้เหล้า|ข้างบ้าน|เพิ่ง|ยัง){0,4}"
        r"(?:ตี|ทุบ|ต่อย|ชก|เตะ|ตบ|กระทืบ|ซ้อม|บีบคอ|ไล่ฟัน|ไล่แทง)(?!สอง|สาม|สี่|ห้า|หนึ่ง|\d)",
        r"(?:ถูก|โดน).{0,6}(?:ชกหน้า|ต่อย|ตบหน้า|เตะ|กระทืบ|ทุบตี|ซ้อม)", r"บีบคอ", r"(?:มีด|ปืน|ขวาน|ไม้|ขวด|พร้า).{0,10}(?:ขู่|ไล่)",
        r"(?:ปีน|พัง|งัด)(?:รั้ว|ประตู|หน้าต่าง)?.{0,10}(?:เข้า(?:มา)?(?:ใน)?(?:บ้าน|เฮือน|ห้อง)|บ้าน|เฮือน)", r"ชก(?:พนักงาน|หน้า|คน)",
        r"ทำร้ายร่างกาย", r"ความรุนแรงในครอบครัว", r"ข่มขืน", r"(?:ขโมย|โจร|คนร้าย)(?:ขึ้น|งัด|เข้า)บ้าน", r"งัด(?:ประตู|หน้าต่าง|บ้าน)",
        r"(?:ซ่อน|หลบ|ล็อค|ล็อก)(?:ตัว)?(?:อยู่)?(?:ใน)?(?:ห้อง|ตู้|ห้องน้ำ).{0,20}(?:ตี|ทำร้าย|ฆ่า|เมา|กลัว|หนี)",
        r"ทะเลาะวิวาท", r"ตีกัน(?:อยู่)?", r"(?=.*(?:ปืน|มีด|ขวาน|พร้า))(?=.*(?:หนี|ดักรอ|ไล่|ขู่|จี้|คลั่ง|อาละวาด))",
        r"จี้(?:คอ|ตัว|หลัง)", r"(?=.*(?:ตามมา|สะกดรอย|ดักรอ|ตามตื๊อ))(?=.*(?:กลัว|หน้าห้อง|หน้าบ้าน|เคาะประตู))", r"(?:โดน|ถูก)รุม", r"รุม(?:ทำร้าย|ตี|กระทืบ|ซ้อม)", r"(?:ยัง)?ตี(?:ไม่หยุด|อยู่(?:เลย)?$)", r"(?:คลั่ง|อาละวาด).{0,30}(?:ทุบ|ทำร้าย|มีด|ตี)", r"จะทำร้าย(?!ตัวเอง)",
    ], [
        r"(?:hitting|beat(?:ing|ng|s)?|punching|kicking|slapping|choking|strangling|attacking|stabbing|threatening) (?:me|us|my|her|him|his|their|the|mom|mum)",
        r"(?:threaten\w*|going) to kill (?:me|us|my|her|him)", r"(?:has|with|holding|grabbed) a (?:knife|gun|machete)",
        r"domestic (?:violence|abuse)", r"(?:beat|beats|beaten|abus\w*) (?:me|us|my|her) ", r"breaking (?:into|in)\b",
        r"(?:someone|somebody|a man|intruder|burglar)\w* (?:is )?(?:in|inside) (?:my|our|the) (?:house|home|room)", r"hiding (?:from|in)",
        r"being (?:attacked|beaten|raped|assaulted)", r"rap(?:ed|ing)\b", r"assault",
    ]),
    _family("poisoning", POISONING, [
        r"กินยา.{0,8}(?:เกิน|ผิด|เยอะ|หมด|ทั้งแผง|ทั้งขวด|หลายเม็ด|ฆ่า|\d+เม็ด)", r"กินยา.{0,20}(?:ไป\d+เม็ด|หมดขวด|หมดแผง|ทั้งขวด|ทั้งแผง|เกือบหมด|ครึ่งขวด|ครึ่งแผง)", r"swallow.{0,10}(?:ถ่าน|แบต)",
        r"กิน(?:ยา)?(?:พารา|paracetamol|tylenol)(?:ไป)?\d{2,}", r"(?:น้ำยา|ผงซักฟอก|ไฮเตอร์|สารเคมี).{0,15}(?:ดื่ม|กิน|กลืน)(?:เข้าไป|ไป)", r"(?:กิน|ดื่ม).{0,10}ก๊าด",
        r"(?:กลืน|กิน)(?:ถ่าน|แบต|ยากันยุง|น้ำมันก๊าด|น้ำยาล้าง)",
        r"(?=.*(?:ฉีด|พ่น)ยา(?:ฆ่าแมลง|ฆ่าหญ้า)?(?:ใน|ที่)?(?:สวน|นา|ไร่|แปลง))(?=.*(?:น้ำลายไหล|ตัวสั่น|ตาลาย|อาเจียน|อ้วก|หายใจ|ชัก|ม่านตา|เหงื่อแตก))", r"กลอย.{0,20}(?:อาเจียน|อ้วก|ชา|มึน)", r"ยาเกินขนาด", r"ยาฆ่า(?:แมลง|หญ้า|หนู|เห็บ)",
        r"ยาเบื่อ", r"ยาพิษ(?!สุนัข)", r"(?:กิน|ดื่ม|กลืน|ดูด|ซด)(?:.{0,4})(?:detergent|bleach|pesticide|ยากันยุง|น้ำมันก๊าด|น้ำยา|สารเคมี|น้ำมัน(?:ก๊าด|เบนซิน|ดีเซล|เครื่อง|สน)|ผงซักฟอก|น้ำกรด|ไฮเตอร์|โซดาไฟ|ถ่าน|แบต|ยาฆ่า|ยาสระ|ยาย้อม|ทินเนอร์|แอลกอฮอล์ล้าง|ปุ๋ย)",
        r"(?<!ลม)(?<!ครรภ์เป็น)พิษ(?!ณุ|สุนัข)", r"น้ำยาล้าง", r"ไฮเตอร์", r"เมา(?:เห็ด|ยา)", r"สูดควัน", r"แก๊สรั่ว", r"สำลักควัน",
        r"พาราควอ", r"ไกลโฟเซ", r"กรัมม็อกโซน", r"ยา(?:ฉีด|พ่น|ปราบ)(?:หญ้า|ศัตรูพืช|แมลง|ยุง)", r"สารกำจัด", r"ยาฆ่า(?!เชื้อ)",
        r"เห็ด.{0,60}(?:อ้วก|อาเจียน|ถ่าย|ท้องเสีย|ปวดท้อง|มึน|เมา|ชัก|ซึม|ตาลาย|ใจสั่น|หายใจ|diarrh|vomit)",
        r"(?:อ้วก|อาเจียน|ถ่าย|ท้องเสีย|ปวดท้อง|มึน|ซึม).{0,20}(?:หลังกิน|เพราะกิน|กิน)เห็ด",
        r"(?:เหล้าเถื่อน|เหล้าขาว|เหล้าต้ม|เหล้าป่า|เหล้าโรง|สาโท|กระแช่|เหล้าปลอม|ยาดอง).{0,40}(?:ตามัว|ตาฟาง|มองไม่(?:ชัด|เห็น|แจ้ง)|ตาพร่า|ตาบอด|ตามืด|มองเห็นไม่ชัด|หายใจ|ชัก|ซึม|ไม่รู้สึกตัว)",
        r"(?:ตามัว|มองไม่(?:ชัด|เห็น)|ตาพร่า|ตาบอด).{0,30}(?:เหล้าเถื่อน|เหล้าขาว|เหล้าต้ม|เหล้าป่า|สาโท|เหล้าปลอม)",
    ], [
        r"overdos", r"too many (?:\w+ )?(?:pills|tablets|meds|medicine|paracetamol)", r"poison", r"swallow\w* (?:\w+ ){0,3}(?:battery|batteries|magnets?|chemical|bleach|detergent|pesticide|pills|coin)", r"bleach",
        r"pesticide", r"weed ?killer", r"insecticide", r"herbicide", r"paraquat", r"glyphosate", r"kerosene", r"drain cleaner", r"antifreeze",
        r"drank (?:\w+ )?(?:bleach|chemical|detergent|cleaner|kerosene|thinner)", r"carbon monoxide",
        r"(?:wild |forest )?mushrooms?\b.{0,40}(?:vomit|sick|diarrh|dizz|confus|seiz)", r"(?:moonshine|bootleg|homemade (?:liquor|whisky|whiskey|alcohol)|rice whisky|lao khao).{0,40}(?:blur|cant see|blind|vision)",
        r"methanol", r"(?:ate|eaten|drank|swallowed) (?:\w+ ){0,3}(?:rat poison|pills)",
    ]),
    _family("breathing", MEDICAL, [
        r"หายใจ(?:ไม่ค่อย|แทบ(?:จะ)?ไม่|ไม่)(?:ออก|ได้|ทัน|สะดวก|อิ่ม|เข้า)", r"หายใจ(?:ลำบาก|ติดขัด|ขัด|ยาก|หอบ|เร็ว|แรง|มีเสียง|ครืดคราด|ไม่ปกติ|ช้า|รวยริน|เฮือก|พะงาบ)",
        r"ไม่หายใจ", r"ไม่ได้หายใจ", r"หยุดหายใจ", r"ไม่มีลมหายใจ", r"หอบ(?:เหนื่อย|มาก|หนัก|แรง|จน|หืด)", r"เหนื่อยหอบ",
        r"(?:ปาก|ตัว|ริมฝีปาก|หน้า|เล็บ|มือเท้า)(?:ม่วง|เขียว|ซีดเขียว|คล้ำ)", r"เขียวคล้ำ", r"หายใจไม่", r"อกบุ๋ม", r"ชายโครงบุ๋ม",
        r"ตัว(?:อ่อน)?ปวกเปียก", r"ตัวอ่อนปวก", r"ตัวอ่อนเปียก", r"ตัวนิ่มไม่มีแรง",
    ], [
        r"(?:cant|cannot|can not|couldnt|hardly|barely|unable to|trouble|difficult\w*|struggl\w*|hard to|short of|shortness of|not|stopped|no|problem) ?(?:to )?breath",
        r"breathless", r"gasping", r"wheez", r"catch \w+ breath", r"asthma attack", r"breathing (?:problem|difficult|hard|fast|weird|strange|slow)",
        r"turn(?:ing|ed)? (?:blue|purple|grey|gray)", r"(?:lips?|face|skin) (?:are |is |turning |look |looks )?(?:blue|purple|grey|gray)", r"breath\w* ?ไม่",
        r"(?:limp|floppy)\b",
    ]),
    _family("chest_pain", MEDICAL, [
        r"(?:เจ็บ|แน่น|ปวด|จุก|บีบ|เสียด|ร้าว)(?:แน่น|จี๊ด|ตรง|ที่|บริเวณ|แถว)?(?:หน้า|กลาง)?อก(?!หัก)", r"(?:จุก|แน่น|เจ็บ)ลิ้นปี่", r"(?:เจ็บ|แน่น|ปวด|จุก)(?:แน่น)?หน้าออก",
        r"หัวใจ(?:หยุดเต้น|วาย|ล้มเหลว|เต้นผิดจังหวะ|เต้นเร็วมาก|จะวาย|จะหยุด)", r"ไม่มีชีพจร", r"คลำชีพจรไม่", r"ใจสั่นจะเป็นลม",
        r"ร้าวไป(?:แขน|กราม|คอ|หลัง)",
        # a heart attack told as indigestion: pressure in the upper belly with a cold sweat
        r"(?=.*เหงื่อ(?:แตก|ออก|เย็น|ท่วม|ซึม|โชก))(?=.*(?:(?:จุก|แน่น|อึดอัด|เจ็บ|ปวด|แสบ)(?:ท้อง|ลิ้นปี่|อก|คอ|กราม|ยอดอก)|อาหารไม่ย่อย|indigestion|heartburn))",
        r"(?=.*(?:ตัวเย็น|ใจสั่น|หน้าซีด|จะเป็นลม|หน้ามืด))(?=.*(?:จุก|แน่น|อึดอัด)(?:ท้อง|ลิ้นปี่|อก|ยอดอก))",
    ], [
        r"chest (?:\w+ ){0,5}(?:pain|hurt|tight|pressure|discomfort|ache|crush|squeez|heavy)", r"crushing (?:pain|feeling)", r"pain in (?:my|his|her|the) chest", r"heart attack",
        r"cardiac arrest", r"no pulse", r"heart (?:has )?stopped", r"chest ?(?:เจ็บ|แน่น|ปวด)", r"(?:เจ็บ|แน่น|ปวด) ?chest",
        r"chest pain", r"(?=.*(?:cold sweat|sweating|sweaty|clammy))(?=.*(?:indigestion|heartburn|pressure|upper (?:belly|stomach)|jaw|left arm))",
    ]),
    _family("unconscious", MEDICAL, [
        r"หมดสติ", r"ไม่ได้สติ", r"ไม่รู้สึกตัว", r"ไม่ค่อยรู้สึกตัว", r"สลบ", r"เป็นลม(?!พัด|ชัก|บ้าหมู)", r"ล้มฟุบ", r"ฟุบ(?:ลง|ไป)",
        r"ทรุดลง", r"ล้มทั้งยืน", r"ปลุกไม่(?:ค่อย)?ตื่น", r"เรียกไม่(?:ค่อย)?ตื่น", r"เรียกไม่(?:ตอบ|ได้ยิน|รู้สึก|รู้เรื่อง)", r"ไม่ตอบสนอง", r"(?:นอน|ตัว)ไม่ขยับ", r"ไม่ขยับตัว",
        r"นอนนิ่ง", r"หน้ามืด", r"วูบ", r"ช็อ[กค](?!โก)", r"ซึมลง", r"ไม่ฟื้น", r"โคม่า", r"ตาลอย", r"(?:ซึม|หลับ)(?:มาก)?(?:ปลุก|เรียก)ไม่",
        r"สับสน(?:พูด|จำ|เรียก)?ไม่รู้เรื่อง", r"พูดจาสับสน", r"(?:ซึม|เพ้อ|สับสน).{0,12}(?:เหงื่อ|ตัวเย็น)",
        # low blood sugar in an insulin user: sweating, shaking, confused
        r"(?:อินซูลิน|ยาเบาหวาน|ฉีดยาเบาหวาน|เบาหวาน).{0,40}(?:เหงื่อ(?:แตก|ออก|ท่วม)|ใจสั่น|มือสั่น|สับสน|ซึม|เพ้อ|งง|ไม่รู้เรื่อง|ตัวเย็น|ชัก)",
        r"(?:เหงื่อแตก|ใจสั่น|มือสั่น|สับสน|ซึม|เพ้อ).{0,40}(?:อินซูลิน|เบาหวาน)", r"น้ำตาล(?:ในเลือด)?(?:ต่ำ|ตก)",
    ], [
        r"collaps", r"pass(?:ed|ing|es)? out", r"faint", r"unconscious", r"unresponsive", r"wont wake", r"not waking",
        r"cant wake", r"not respond", r"not moving", r"black(?:ed|s)? out", r"man down", r"knocked out",
        r"(?:dad|mom|mum|mother|father) ?(?:หมดสติ|เป็นลม)", r"not breathing", r"lost consciousness",
        r"(?=.*(?:insulin|diabetic|diabetes))(?=.*(?:sweat|shak|confus|drows|not making sense|clammy))", r"(?:low|dropping) (?:blood )?sugar",
    ]),
    _family("stroke", MEDICAL, [
        r"ปาก(?:เบี้ยว|ตก|เบี่ยง|เบ้)", r"หน้า(?:เบี้ยว|ตก|เบี่ยง|ชาครึ่ง)", r"มุมปากตก", r"อ่อนแรง", r"ครึ่งซีก",
        r"ซีก(?:ซ้าย|ขวา|เดียว|หนึ่ง)", r"(?:ชา|อ่อน|ไม่มีแรง|เบี้ยว|ยกไม่ขึ้น).{0,12}ข้าง(?:เดียว|นึง|หนึ่ง|ซ้าย|ขวา)",
        r"ข้าง(?:เดียว|นึง|หนึ่ง|ซ้าย|ขวา).{0,12}(?:ชา|อ่อน|ไม่มีแรง|เบี้ยว|ยกไม่ขึ้น)", r"ยก(?:แขน|ขา).{0,6}ไม่ขึ้น",
        r"แขน(?:ขา)?ยกไม่ขึ้น", r"(?<!ขวบยัง)(?<!เดือนยัง)พูด(?:ไม่ชัด|ไม่ได้|ไม่รู้เรื่อง|ลำบาก|ติดขัด|ไม่ออก|อ้อแอ้|ไม่เป็นคำ|ไม่เป็นภาษา|ช้าลง|ไม่เป็นภาษา)", r"ลิ้นแข็ง",
        r"ลิ้นคับปาก", r"สโตรก", r"อัมพฤกษ์", r"อัมพาต", r"เส้นเลือดในสมอง", r"หลอดเลือดสมอง", r"ตามัวข้างเดียว",
        r"มองไม่เห็น(?:ทันที|ข้างเดียว)", r"ปวดหัว(?:รุนแรง|มากที่สุด|เหมือนจะระเบิด)", r"ปวดหัว.{0,12}คอแข็ง", r"คอแข็ง.{0,12}ไข้",
    ], [
        r"stroke", r"droop", r"slurr", r"(?:weak|numb)\w* (?:on )?(?:one|1|left|right|the left|the right) side",
        r"one side\w* (?:of \w+ )?(?:body |face )?(?:is )?(?:weak|numb|droop)", r"cant (?:move|lift|raise|feel) (?:his|her|my) (?:arm|leg|face)",
        r"speech (?:problem|difficult|is slurred)", r"cant speak (?:properly|clearly)", r"face (?:is )?(?:numb|crooked|lopsided)",
        r"paraly[sz]", r"stiff neck",
    ]),
    _family("bleeding", MEDICAL, [
        r"(?<!ตรวจ)(?<!เจาะ)(?<![^แ]ผล)เลือด(?:ออก|ไหล)(?!หรือยัง|แล้วยัง|ยัง(?:คะ|ครับ|ค่ะ|$)|วันไหน|กี่วัน)", r"เลือด(?:พุ่ง|ทะลัก|ท่วม|โชก|อาบ|สาด|ไม่หยุด)", r"ตกเลือด",
        r"(?:อาเจียน|อ้วก|ไอ|ถ่าย|ขี้|ฉี่|ปัสสาวะ|บ้วน)(?:ออกมา)?เป็นเลือด", r"แผลลึก", r"แผลใหญ่", r"แผลเหวอะ", r"แผลฉีก",
        r"(?:มีด|แก้ว|กระจก|เลื่อย|ใบมีด|เครื่องตัดหญ้า)บาด", r"เลือดกำเดา.{0,6}ไม่หยุด", r"เลือดออก(?:ตาม)?ไรฟัน", r"เหงือกมีเลือด",
        r"ถ่ายดำ", r"อุจจาระสีดำ",
    ], [
        r"bleed", r"blood (?:is )?(?:everywhere|pouring|gushing|spurting)", r"(?:so much|lots of|a lot of|too much) blood", r"(?:vomit\w*|cough\w*|throw\w* up|spit\w*) (?:up )?(?:\w+ ){0,2}blood",
        r"blood in (?:his|her|my) (?:vomit|stool|urine)", r"bloody (?:stool|vomit|diarrh)", r"ha?emorrhag", r"deep cut",
        r"wont stop bleeding", r"gums? (?:are )?bleeding",
    ]),
    _family("seizure", MEDICAL, [
        r"ชัก" + _SEIZURE_NOT, r"ลมบ้าหมู", r"ลมชัก", r"เกร็งกระตุก", r"ตัวเกร็ง", r"ตาค้าง", r"ตาเหลือก", r"น้ำลายฟูมปาก",
        r"กระตุกทั้งตัว", r"กระตุกไม่หยุด", r"มือเท้ากระตุก",
    ], [
        r"seiz", r"convuls", r"foam\w* at the mouth", r"(?:is|was|keeps|started) shaking", r"(?:having|had|has|in|throwing) (?:a )?fit\b", r"epilep", r"shaking uncontrollabl", r"jerking",
        r"eyes? (?:rolled|rolling) (?:back|up)",
    ]),
    _family("fall_head_injury", MEDICAL, [
        r"หกล้ม", r"ลื่นล้ม", r"ล้ม(?!เหลว|ละลาย|เลิก|ป่วย|ล้าง|หมอน|ลุกคลุก|ทับ)", r"(?:หัว|ศีรษะ)(?:ฟาด|กระแทก|แตก|โน|ชน|ทิ่ม)",
        r"ตกจาก", r"ตก(?:บันได|ที่สูง|ตึก|ต้นไม้|หลังคา|เตียง|นั่งร้าน|ระเบียง)", r"ตกลงมา", r"กระดูก(?:หัก|โผล่|ทิ่ม)",
        r"(?:ขา|แขน|คอ|หลัง|สะโพก)หัก", r"กระแทกพื้น",
    ], [
        r"fell(?! asleep| in love)", r"fall(?:en|ing)? (?:down|off|from|over)", r"hit (?:his|her|my|their) head", r"head (?:injur|trauma|wound)",
        r"bang(?:ed)? (?:his|her|my) head", r"broken (?:bone|leg|arm|neck|hip)", r"fractur", r"bone (?:is )?sticking out",
        r"tripped", r"slipped\b", r"gash", r"doesnt know where (?:he|she) is",
    ]),
    _family("accident", MEDICAL, [
        r"อุบัติเหตุ", r"รถชน", r"ชนกัน", r"(?:โดน|ถูก)(?:รถ)?ชน", r"(?:โดน|ถูก)รถ", r"รถคว่ำ", r"รถล้ม", r"มอ(?:เตอร์)?ไซ(?:ค์|ด์)?ล้ม",
        r"จมน้ำ", r"ตกน้ำ", r"ไฟ(?:ฟ้า)?(?:ดูด|ช็อต|ช็อก)", r"(?:ถูก|โดน)(?:แทง|ยิง|ทำร้าย|ฟัน|ตี|ทุบ|ทับ)",
        r"ระเบิด", r"บาดเจ็บ", r"เจ็บหนัก", r"อาการหนัก", r"สาหัส", r"คนเจ็บ", r"ติดอยู่ในรถ", r"ถูกทับ", r"ทับขา",
    ], [
        r"accidents?\b", r"crash(?:ed)?\b", r"hit by (?:a |the )?(?:car|truck|bus|motorbike|motorcycle|bike|vehicle)", r"run over",
        r"drown", r"electrocut", r"electric shock", r"stab(?:bed|bing|s)?\b", r"(?:got|been|was|were|is|has been) shot", r"gunshot", r"shooting",
        r"injur", r"(?:badly|seriously|severely) hurt", r"hurt (?:badly|seriously)", r"attacked", r"explosion",
        r"trapped",
    ]),
    _family("burn", MEDICAL, [
        r"(?:ไฟ|น้ำร้อน|น้ำมัน(?:ร้อน)?|ไอน้ำ|สารเคมี|กรด|โซดาไฟ)(?:ลวก|ไหม้|กระเด็น|ลุก)", r"ไฟไหม้", r"แผลไหม้", r"แผลพุพอง", r"น้ำเดือด.{0,10}(?:หก|ลวก|ใส่|โดน)", r"พองเป็น(?:แผ่น|แผล)", r"ผิว(?:หนัง)?(?:พอง|ไหม้)", r"ท่อไอเสีย",
        r"แผลพอง", r"(?<!ไข่)ลวก(?!ผัก|เส้น|หมู|ไข่)", r"สารเคมี.{0,12}(?:ตา|ผิว|หน้า)", r"(?:เข้า|โดน)ตา.{0,6}สารเคมี", r"ไฟช็อต",
    ], [
        r"burn", r"scald", r"boiling (?:water|oil)", r"chemical\w* (?:in|on) (?:his|her|my|the) (?:eye|skin|face)", r"acid (?:burn|splash|in|on)", r"(?:threw|thrown|splashed) acid",
        r"on fire",
    ]),
    _family("bite_sting", MEDICAL, [
        r"(?:งู|หมา|สุนัข|แมว|ลิง|หนู|ตะขาบ|แมงป่อง|แมงมุม|ปลาไหล|จระเข้|สัตว์|ม้า|วัว|ควาย|ตัวเงินตัวทอง|แมงกะพรุน)(?:.{0,15})(?:กัด|ข่วน|ฉก|ขวิด|เหยียบ|ทำร้าย)",
        r"(?:ผึ้ง|แตน|แมงป่อง|แมลง|ตัวต่อ|ต่อหัวเสือ|แมงกะพรุน|ปลากระเบน)(?:.{0,6})ต่อย", r"งู(?:เห่า|กะปะ|เขียวหางไหม้|จงอาง|พิษ|แมวเซา|สามเหลี่ยม)",
        r"(?:โดน|ถูก)(?!ยุง|มด|ริ้น|เหา|หมัด|ไร)(?:.{0,4})(?:กัด|ฉก)", r"พิษสุนัขบ้า",
    ], [
        r"(?:snake|dog|cat|monkey|rat|animal|spider|scorpion|centipede)s? ?(?:bite|bit|bitten)", r"bitten", r"stung", r"bee stings?",
        r"rabies", r"jellyfish",
    ]),
    _family("choking", MEDICAL, [
        r"สำลัก", r"ติดคอ(?!น|ม)", r"ติดหลอดลม", r"กลืน(?:เหรียญ|ของ|ถ่าน|แบต|ลูกอม|ของเล่น).{0,6}(?:ลง|เข้าไป|ติด)?", r"ก้าง(?:ปลา)?ติด",
    ], [
        r"chok", r"clutching (?:his|her|my) throat", r"stuck in (?:his|her|my|the) throat", r"something in (?:his|her|my) throat", r"cant swallow",
    ]),
    _family("allergy", MEDICAL, [
        r"แพ้.{0,20}(?:บวม|ผื่น|หายใจ|ลมพิษ|ช็อก|ช็อค|หน้ามืด|คันทั้งตัว)", r"ลมพิษ", r"(?:ปาก|หน้า|ตา|คอ|ลิ้น|ริมฝีปาก|ตัว|หนังตา)บวม",
        r"บวมทั้งตัว", r"แพ้(?:ยา|อาหาร)?รุนแรง", r"แพ้(?:อย่าง)?หนัก",
    ], [
        r"anaphyla", r"allergic (?:reaction|shock|attack)", r"severe allerg", r"(?:throat|tongue|lips?|face|mouth|eyes?) (?:is |are )?(?:swell|swollen|puff)",
        r"swelling", r"hives", r"epipen", r"allergic",
    ]),
    _family("pregnancy", MEDICAL, [
        r"(?:ตั้งครรภ์|ตั้งท้อง|คนท้อง|(?<!ฝาก)ครรภ์|ท้อง(?:ได้)?\d+(?:เดือน|สัปดาห์|วีค)|ท้องแก่|ท้องอ่อน|มีครรภ์|(?:ภรรยา|เมีย|แฟน|ลูกสาว)(?:กำลัง)?ท้อง)"
        r".{0,25}(?:(?<!เจาะ)(?<!ตรวจ)เลือด|น้ำเดิน|ปวดท้อง|เจ็บท้อง|ชัก|บวม|ดิ้นน้อย|ไม่ดิ้น|มีน้ำ|แท้ง|ปวดหัว|ตาพร่า)",
        r"น้ำเดิน", r"น้ำคร่ำ", r"เจ็บท้อง(?:คลอด|จะคลอด)", r"จะคลอด", r"กำลังคลอด", r"คลอดลูก", r"ปวดท้องคลอด",
        r"ดิ้นน้อย", r"ไม่ดิ้น(?!รน)", r"แท้ง", r"ครรภ์เป็นพิษ", r"ท้องนอกมดลูก", r"ช่องคลอด", r"ตกเลือด",
    ], [
        r"pregnan\w*.{0,40}(?:bleed|pain|cramp|spotting|water|contraction|seiz|not moving|fluid|headache|swell)",
        r"waters? (?:has |have |just )?(?:broke|broken|breaking)", r"in labou?r", r"going into labou?r", r"contraction",
        r"miscarr", r"giving birth", r"baby (?:is )?coming", r"baby (?:is not|isnt|not|stopped|has stopped) moving", r"ectopic",
        r"eclampsia",
    ]),
    _family("child_dehydration", MEDICAL, [
        _KID + r".{0,40}(?:ท้องเสีย|ถ่ายเหลว|ถ่ายเป็นน้ำ|ถ่ายไม่หยุด|อาเจียน|อ้วก|ขี้ไหล).{0,50}"
               r"(?:ไม่ฉี่|ฉี่น้อย|ไม่มีน้ำตา|ปากแห้ง|ตาโหล|กระหม่อมบุ๋ม|ซึม|ไม่ดูดนม|ไม่กินนม|ไม่ยอมกิน|อ่อนเพลียมาก|ตัวอ่อน|ไม่มีแรง|ปวกเปียก)",
        r"กระหม่อมบุ๋ม", r"ไม่ฉี่(?:มา)?(?:ทั้งวัน|ตั้งแต่|เลย)", r"ไข้สูง.{0,20}(?:ชัก|ซึม|ไม่ตื่น|คอแข็ง|ผื่นจ้ำ)",
    ], [
        r"(?=.*(?:baby|infant|toddler|month old|newborn))(?=.*(?:diarrh|vomit|throwing up))(?=.*(?:no wet|not (?:peed|weeing)|no tears|sunken|dry mouth|floppy|listless|drowsy|wont (?:drink|feed)))",
        r"sunken (?:eyes|fontanel)", r"no wet nappies", r"no wet diapers",
    ]),
    _family("general", MEDICAL, [
        r"ฉุกเฉิน", r"เหตุด่วน", r"ด่วนมาก", r"ด่วนที่สุด", r"ช่วยด้วย", r"รถพยาบาล", r"(?<!\d)1669(?!\d)", r"อาการแย่",
        r"อาการทรุด", r"ใกล้ตาย", r"กำลังจะตาย", r"จะไม่รอด", r"ไม่รอดแล้ว", r"หนักมาก(?:ค่ะ|ครับ)?ช่วย", r"ช่วยที(?:ค่ะ|ครับ)?$",
    ], [
        r"emergenc", r"ambulance", r"urgent", r"sos\b", r"help help", r"dying", r"911\b",
        r"life threatening", r"help me please", r"please help",
    ]),
)
