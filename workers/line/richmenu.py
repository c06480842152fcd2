"""Install and show the Official Account's rich menu (``flask line richmenu install`` / ``show``).

Install is idempotent and leaves other menus alone: it creates our menu (``bot/richmenu.py``),
uploads its image, makes it the default, and only then deletes the menus of ours it replaces
(named ``bot.richmenu.NAME_PREFIX``…), so patients never see the menu go missing. Menus
someone made in the LINE Official Account Manager or another tool are not touched; if one of
them was the default, ours replaces it as the default and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from bot.richmenu import HEIGHT, IMAGE_FILE, MAX_IMAGE_BYTES, WIDTH, is_ours, rich_menu

PNG = b"\x89PNG\r\n\x1a\n"
JPEG = b"\xff\xd8\xff"


class RichMenuImageError(ValueError):
    """The image breaks LINE's rules (type, size in pixels, bytes)."""


@dataclass(frozen=True)
class Installed:
    rich_menu_id: str
    replaced: list[str]            # our earlier menus, deleted
    previous_default: str | None   # the default before, if it was not ours
    others: int                    # menus not ours, left as they are


def default_image() -> bytes:
    return files("bot").joinpath("data", IMAGE_FILE).read_bytes()


def check_image(image: bytes) -> str:
    """The image's content type, after checking LINE's rules; raise ``RichMenuImageError`` otherwise."""
    if image.startswith(PNG):
        content_type = "image/png"
        width, height = _png_size(image)
        if (width, height) != (WIDTH, HEIGHT):
            raise RichMenuImageError(f"the image is {width}x{height}; the menu needs exactly {WIDTH}x{HEIGHT}")
    elif image.startswith(JPEG):
        content_type = "image/jpeg"  # its size in pixels is LINE's to check (a 400 names it)
    else:
        raise RichMenuImageError("the image must be a PNG or a JPEG")
    if len(image) > MAX_IMAGE_BYTES:
        raise RichMenuImageError(f"the image is {len(image)} bytes; LINE takes at most {MAX_IMAGE_BYTES} (1 MB)")
    return content_type


def install(line, image: bytes | None = None, *, hospital_name: str | None = None) -> Installed:
    image = default_image() if image is None else image
    content_type = check_image(image)
    before = line.rich_menus()
    default = line.default_rich_menu_id()
    new_id = line.create_rich_menu(rich_menu(hospital_name))
    try:
        line.set_rich_menu_image(new_id, image, content_type)
        line.set_default_rich_menu(new_id)
    except Exception:
        line.delete_rich_menu(new_id)  # no half-made menu left behind; the old one stays the default
        raise
    ours = [menu["richMenuId"] for menu in before if is_ours(menu)]
    for old in ours:
        line.delete_rich_menu(old)
    previous = default if default and default not in ours else None
    return Installed(new_id, ours, previous, len(before) - len(ours))


def show(line) -> tuple[str | None, list[dict]]:
    """The default menu's id and every menu of the channel."""
    return line.default_rich_menu_id(), line.rich_menus()


def _png_size(image: bytes) -> tuple[int, int]:
    if len(image) < 24 or image[12:16] != b"IHDR":
        raise RichMenuImageError("the PNG has no header")
    return int.from_bytes(image[16:20], "big"), int.from_bytes(image[20:24], "big")
