"""The kinds of emergency, the numbers each answer must give, and the words of those answers."""

from __future__ import annotations

EMERGENCY_LINE = "1669"   # Thailand's emergency medical service
MENTAL_HEALTH_LINE = "1323"  # Department of Mental Health hotline, 24 hours
POLICE_LINE = "191"
SOCIAL_LINE = "1300"      # Ministry of Social Development's hotline: violence in the family, 24 hours
POISON_LINE = "1367"      # Ramathibodi Poison Center, 24 hours

MEDICAL, SELF_HARM, VIOLENCE, POISONING = "medical", "self_harm", "violence", "poisoning"
#: The numbers each kind's answer must give, the first one first.
KINDS: dict[str, tuple[str, ...]] = {
    MEDICAL: (EMERGENCY_LINE,),
    SELF_HARM: (MENTAL_HEALTH_LINE, EMERGENCY_LINE),
    VIOLENCE: (POLICE_LINE, SOCIAL_LINE),
    POISONING: (POISON_LINE, EMERGENCY_LINE),
}

SELF_HARM_MESSAGE = {
    "type": "text",
    "text": ("💛 คุณไม่ได้อยู่คนเดียวนะคะ หากมีความคิดทำร้ายตัวเองหรืออยากตาย "
             "โทรสายด่วนสุขภาพจิต 1323 ได้ตลอด 24 ชั่วโมง (ฟรี) มีคนพร้อมรับฟังค่ะ\n"
             "หากได้ทำร้ายตัวเองแล้ว หรือกำลังจะทำ โทร 1669 ทันทีค่ะ\n\n"
             "You are not alone. Call the mental health hotline 1323 (free, 24 hours). "
             "If you have hurt yourself or are about to, call 1669 now."),
}
VIOLENCE_MESSAGE = {
    "type": "text",
    "text": ("🚓 ถ้ากำลังถูกทำร้ายหรือถูกขู่อยู่ตอนนี้ ไปอยู่ในที่ปลอดภัย แล้วโทรแจ้งตำรวจ 191 ทันทีค่ะ\n"
             "ศูนย์ช่วยเหลือสังคม 1300 ช่วยเรื่องความรุนแรงในครอบครัวได้ตลอด 24 ชั่วโมง (ฟรี)\n"
             "ถ้ามีคนบาดเจ็บ โทร 1669 ค่ะ\n\n"
             "If you are being hurt or threatened now, get somewhere safe and call the police on 191. "
             "Hotline 1300 helps with violence at home, 24 hours, free. If someone is injured, call 1669."),
}
POISONING_MESSAGE = {
    "type": "text",
    "text": ("☠️ ถ้ากิน ดื่ม หรือสัมผัสสารพิษ ยา เห็ดพิษ หรือเหล้าเถื่อน: โทรศูนย์พิษวิทยารามาธิบดี 1367 "
             "(24 ชั่วโมง) ถ้าซึม หายใจลำบาก หรือชัก โทร 1669 ทันทีค่ะ\n"
             "อย่าทำให้อาเจียนเอง เก็บขวดหรือซองยาไว้ให้เจ้าหน้าที่ดูค่ะ\n\n"
             "Poisoning: call the Ramathibodi Poison Center on 1367 (24 hours); if drowsy, "
             "struggling to breathe or fitting, call 1669 now. Do not make them vomit; keep the bottle or pack."),
}
#: The first message of each kind's answer when the knowledge base has none (``fallbacks``).
KIND_MESSAGES = {SELF_HARM: SELF_HARM_MESSAGE, VIOLENCE: VIOLENCE_MESSAGE, POISONING: POISONING_MESSAGE}
#: One line under a topic's answer when a message mentions a danger that is not happening now.
SAFETY_LINES = {
    MEDICAL: ("⚠️ ถ้าตอนนี้มีอาการรุนแรง เช่น เจ็บแน่นหน้าอก หายใจไม่ออก หมดสติ ชัก ปากเบี้ยว "
              "หรือเลือดออกมาก โทร 1669 ทันทีค่ะ / If this is happening now, call 1669."),
    SELF_HARM: ("💛 ถ้าตอนนี้มีความคิดทำร้ายตัวเอง โทร 1323 ได้ตลอด 24 ชั่วโมง ถ้ากำลังจะทำ โทร 1669 ค่ะ "
                "/ If you are thinking of harming yourself, call 1323; if you are about to, 1669."),
    VIOLENCE: ("🚓 ถ้ากำลังถูกทำร้ายหรือถูกขู่ตอนนี้ โทร 191 หรือ 1300 ค่ะ "
               "/ If someone is hurting or threatening you now, call 191 or 1300."),
    POISONING: ("☠️ ถ้าตอนนี้กินหรือสัมผัสสารพิษ โทร 1367 หรือ 1669 ทันทีค่ะ "
                "/ If someone has just been poisoned, call 1367 or 1669 now."),
}
