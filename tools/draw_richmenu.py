"""Draw the rich menu image that ships in bot/data/ (run once; the PNG is committed).

    .venv/bin/python tools/draw_richmenu.py [--font FILE] [--out FILE]

The tiles and labels come from ``bot/richmenu.py`` (``BUTTONS``), so the picture and the
tap areas cannot disagree. LINE's rules for the image (Messaging API, "Rich menu"): exactly
the menu's size, PNG or JPEG, at most 1 MB. The default font is Waree Bold from the tlwg
Thai fonts (Debian's fonts-tlwg-waree); Pillow needs libraqm to shape Thai correctly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, features

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.richmenu import BUTTONS, HEIGHT, IMAGE_FILE, MAX_IMAGE_BYTES, WIDTH, bounds  # noqa: E402

DEFAULT_FONT = "/usr/share/fonts/truetype/tlwg/Waree-Bold.ttf"
WHITE = "#FFFFFF"


def icon(draw: ImageDraw.ImageDraw, name: str, cx: int, cy: int, r: int, color: str) -> None:
    """A simple white pictogram on a white-ringed disc, centred at (cx, cy)."""
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=WHITE)
    s = r // 2
    if name == "staff":       # two people
        for dx, size in ((-s // 2, 1.0), (s // 2 + 10, 0.8)):
            h = int(s * 0.45 * size)
            draw.ellipse((cx + dx - h, cy - s - h // 2, cx + dx + h, cy - s + h + h // 2), fill=color)
            draw.pieslice((cx + dx - 2 * h, cy - 10, cx + dx + 2 * h, cy + 3 * h), 180, 360, fill=color)
    elif name == "phone":     # a handset with a check mark
        draw.rounded_rectangle((cx - s // 1.6, cy - s, cx + s // 1.6, cy + s), radius=18, fill=color)
        draw.rectangle((cx - s // 2.2, cy - s + 24, cx + s // 2.2, cy + s - 40), fill=WHITE)
        draw.line((cx - 30, cy, cx - 8, cy + 24, cx + 34, cy - 26), fill=color, width=16)
    elif name == "calendar":
        draw.rounded_rectangle((cx - s, cy - s + 10, cx + s, cy + s), radius=14, fill=color)
        draw.rectangle((cx - s + 16, cy - s + 60, cx + s - 16, cy + s - 16), fill=WHITE)
        for i in range(3):
            for j in range(2):
                x, y = cx - s + 30 + i * (2 * s - 60) // 3 + 6, cy - s + 84 + j * 50
                draw.rectangle((x, y, x + 30, y + 30), fill=color)
    elif name == "pin":
        draw.ellipse((cx - s, cy - s - 20, cx + s, cy + s - 20), fill=color)
        draw.polygon([(cx - s + 12, cy + 10), (cx + s - 12, cy + 10), (cx, cy + s + 30)], fill=color)
        draw.ellipse((cx - s // 2.5, cy - s // 2.5 - 20, cx + s // 2.5, cy + s // 2.5 - 20), fill=WHITE)
    elif name == "clock":
        draw.ellipse((cx - s, cy - s, cx + s, cy + s), outline=color, width=22)
        draw.line((cx, cy, cx, cy - s + 36), fill=color, width=18)
        draw.line((cx, cy, cx + s - 50, cy + 20), fill=color, width=18)
    elif name == "siren":     # a cross, the emergency sign
        w = s // 2.4
        draw.rectangle((cx - w, cy - s, cx + w, cy + s), fill=color)
        draw.rectangle((cx - s, cy - w, cx + s, cy + w), fill=color)


def fitted(pen: ImageDraw.ImageDraw, font_file: str, text: str, size: int, width: int) -> ImageFont.FreeTypeFont:
    """The font at ``size``, or smaller until ``text`` fits in ``width`` pixels."""
    while True:
        font = ImageFont.truetype(font_file, size, layout_engine=ImageFont.Layout.RAQM)
        if pen.textlength(text, font=font) <= width or size <= 40:
            return font
        size -= 4


def draw(font_file: str) -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), WHITE)
    pen = ImageDraw.Draw(image)
    for index, button in enumerate(BUTTONS):
        box = bounds(index)
        x0, y0 = box["x"], box["y"]
        x1, y1 = x0 + box["width"], y0 + box["height"]
        pen.rectangle((x0, y0, x1, y1), fill=button.color)
        pen.rectangle((x0, y0, x1 - 1, y1 - 1), outline=WHITE, width=6)  # the gaps between tiles
        cx = (x0 + x1) // 2
        icon(pen, button.icon, cx, y0 + 250, 150, button.color)
        room = box["width"] - 100
        pen.text((cx, y0 + 540), button.label, font=fitted(pen, font_file, button.label, 104, room), fill=WHITE,
                 anchor="mm")
        pen.text((cx, y0 + 680), button.subtitle, font=fitted(pen, font_file, button.subtitle, 62, room),
                 fill=WHITE, anchor="mm")
    return image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--font", default=DEFAULT_FONT)
    parser.add_argument("--out", default=str(ROOT / "bot" / "data" / IMAGE_FILE))
    args = parser.parse_args()
    if not features.check("raqm"):
        parser.error("Pillow was built without libraqm: Thai vowels and tone marks would be misplaced")
    draw(args.font).save(args.out, "PNG", optimize=True)
    size = Path(args.out).stat().st_size
    if size > MAX_IMAGE_BYTES:
        parser.error(f"{args.out} is {size} bytes; LINE takes at most {MAX_IMAGE_BYTES}")
    print(f"{args.out}: {WIDTH}x{HEIGHT}, {size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
