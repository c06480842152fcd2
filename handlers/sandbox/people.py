"""Who lives in the sandbox: the LINE Official Account and its patients. All made up.

User ids have LINE's shape (``U`` + 32 hex digits); phone numbers are 080 numbers
no one is likely to own; CIDs pass the mod-11 check and are not anyone's.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.sandbox_settings import BOT_USER_ID

BOT_INFO = {
    "userId": BOT_USER_ID,
    "basicId": "@sandbox",
    "displayName": "โรงพยาบาลตัวอย่าง (sandbox)",
    "chatMode": "bot",
    "markAsReadMode": "auto",
}


@dataclass(frozen=True)
class Patient:
    key: str
    user_id: str
    name: str
    phone: str
    cid: str
    picture: bool = True  # LINE omits pictureUrl for users without a picture

    def profile(self, base_url: str) -> dict:
        """``GET /v2/bot/profile/{userId}`` as LINE answers it."""
        profile = {"userId": self.user_id, "displayName": self.name, "language": "th"}
        if self.picture:
            profile["pictureUrl"] = f"{base_url}/sandbox/static/avatar.svg"
        return profile


PATIENTS = (
    Patient("somchai", "U" + "5a" * 16, "สมชาย ใจดี", "0800000101", "1100000000016"),
    Patient("malee", "U" + "6b" * 16, "มาลี รักษ์สุข", "0800000202", "1100000000024", picture=False),
    Patient("john", "U" + "7c" * 16, "John Smith", "0800000303", "1100000000032"),
)
BY_KEY = {p.key: p for p in PATIENTS}
BY_USER = {p.user_id: p for p in PATIENTS}
BY_CID = {p.cid: p for p in PATIENTS}
