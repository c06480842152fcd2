"""The Official Account's rich menu: six buttons the bot understands, and where they sit on the image.

LINE Messaging API, "Rich menu": a 2500×1686 menu (the large size), up to 20 areas, each with
``bounds`` on the image and an ``action``. The postbacks are the ones the dialog and the
features already answer (``bot/dialog.py``, the handoff and verification features), so a tap
works whether or not the handoff and SMS are configured; the emergency button dials 1669
itself (a ``uri`` action with ``tel:``), no bot turn in between.

``tools/draw_richmenu.py`` draws the shipped image from ``BUTTONS``; ``workers/line/richmenu.py``
installs both. A menu is ours when its name starts with ``NAME_PREFIX``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.handoff.messages import HANDOFF_POSTBACK

WIDTH, HEIGHT = 2500, 1686
COLUMNS, ROWS = 3, 2
NAME_PREFIX = "hospital-line-bot"
NAME = f"{NAME_PREFIX} main menu"
CHAT_BAR_TEXT = "เมนู / Menu"     # LINE: at most 14 characters
MAX_NAME = 300                     # LINE: a menu's name has at most 300 characters
MAX_IMAGE_BYTES = 1024 * 1024
IMAGE_FILE = "richmenu.png"        # in bot/data/


@dataclass(frozen=True)
class Button:
    label: str         # on the image, Thai first
    subtitle: str      # English, smaller
    icon: str
    action: dict
    color: str         # the tile's background


def _postback(label: str, data: str) -> dict:
    return {"type": "postback", "label": label, "data": data, "displayText": label}


BUTTONS: tuple[Button, ...] = (
    Button("คุยกับเจ้าหน้าที่", "Talk to staff", "staff", _postback("คุยกับเจ้าหน้าที่", HANDOFF_POSTBACK), "#0A7E5A"),
    Button("ยืนยันเบอร์โทร", "Verify phone", "phone", _postback("ยืนยันเบอร์โทร", "action=topic&id=verify"),
           "#1565C0"),
    Button("นัดหมายแพทย์", "Appointments", "calendar", _postback("นัดหมายแพทย์", "action=topic&id=appointment"),
           "#6A1B9A"),
    Button("แผนที่ การเดินทาง", "Map & directions", "pin", _postback("การเดินทาง", "action=topic&id=location"),
           "#00838F"),
    Button("เวลาทำการ", "Opening hours", "clock", _postback("เวลาทำการ", "action=topic&id=hours"), "#EF6C00"),
    Button("ฉุกเฉิน โทร 1669", "Emergency: call 1669", "siren", {"type": "uri", "label": "โทร 1669",
                                                                   "uri": "tel:1669"}, "#C62828"),
)


def bounds(index: int) -> dict[str, int]:
    """The ``index``-th tile (left to right, top to bottom); the last column and row take the rest."""
    column, row = index % COLUMNS, index // COLUMNS
    width, height = WIDTH // COLUMNS, HEIGHT // ROWS
    x, y = column * width, row * height
    return {"x": x, "y": y, "width": WIDTH - x if column == COLUMNS - 1 else width,
            "height": HEIGHT - y if row == ROWS - 1 else height}


def rich_menu(hospital_name: str | None = None) -> dict:
    """The body of ``POST /v2/bot/richmenu``; its name says whose menu it is (the knowledge base's
    ``hospital: name:``), as the LINE Official Account Manager and ``line richmenu show`` list it.
    The image carries no name, so one drawing serves every hospital."""
    name = f"{NAME} · {hospital_name}"[:MAX_NAME] if hospital_name else NAME
    return {"size": {"width": WIDTH, "height": HEIGHT}, "selected": True, "name": name,
            "chatBarText": CHAT_BAR_TEXT,
            "areas": [{"bounds": bounds(i), "action": button.action} for i, button in enumerate(BUTTONS)]}


def is_ours(menu: dict) -> bool:
    return str(menu.get("name") or "").startswith(NAME_PREFIX)
