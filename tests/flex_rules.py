"""A checker of LINE Flex Message structure rules, for any test that builds Flex messages.

LINE answers a malformed Flex message with a 400 naming only the first problem,
and MOPH Alert may accept it and fail later; checking the structure in tests
catches both early. ``assert_valid_flex`` also parses the message with the
LINE SDK's own model (``linebot.v3.messaging.FlexMessage.from_dict``).

Rules follow https://developers.line.biz/en/reference/messaging-api/#flex-message
(subset: the components and properties our builders may use).
"""

from __future__ import annotations

import json
import re

from linebot.v3.messaging import FlexMessage

COMPONENT_TYPES = {"box", "text", "button", "separator", "image", "filler", "icon", "span"}
BUBBLE_SIZES = {"nano", "micro", "deca", "hecto", "kilo", "mega", "giga"}
SPACING = {"none", "xs", "sm", "md", "lg", "xl", "xxl"}
TEXT_SIZES = {"xxs", "xs", "sm", "md", "lg", "xl", "xxl", "3xl", "4xl", "5xl"}
IMAGE_SIZES = TEXT_SIZES | {"full"}
BORDER_WIDTHS = {"none", "light", "normal", "medium", "semi-bold", "bold"}
ENUMS = {
    "layout": {"horizontal", "vertical", "baseline"},
    "weight": {"regular", "bold"},
    "style@text": {"normal", "italic"},
    "style@span": {"normal", "italic"},
    "style@button": {"primary", "secondary", "link"},
    "decoration": {"none", "underline", "line-through"},
    "align": {"start", "end", "center"},
    "gravity": {"top", "bottom", "center"},
    "height@button": {"sm", "md"},
    "aspectMode": {"cover", "fit"},
    "position": {"relative", "absolute"},
    "adjustMode": {"shrink-to-fit"},
    "direction": {"ltr", "rtl"},
}
ACTION_TYPES = {"postback", "message", "uri", "datetimepicker", "camera", "cameraRoll",
                "location", "richmenuswitch", "clipboard"}
# LINE documents #RRGGBB and #RRGGBBAA (the MOPH seed's example uses the alpha form).
COLOR = re.compile(r"^#[0-9A-Fa-f]{6}([0-9A-Fa-f]{2})?$")
PIXELS = re.compile(r"^\d+(\.\d+)?px$")
PERCENT = re.compile(r"^\d+(\.\d+)?%$")
ASPECT_RATIO = re.compile(r"^\d+:\d+$")
COLOR_KEYS = ("color", "backgroundColor", "borderColor", "separatorColor")
MAX_ALT_TEXT = 1500
MAX_BUBBLE_BYTES = 30_000
MAX_CAROUSEL_BYTES = 50_000
MAX_CAROUSEL_BUBBLES = 12


def flex_problems(message: object) -> list[str]:
    """Every rule the message breaks, as ``path: problem`` lines (empty when valid)."""
    problems: list[str] = []
    if not isinstance(message, dict):
        return ["$: a message must be an object"]
    if message.get("type") != "flex":
        problems.append("$.type: must be 'flex'")
    alt = message.get("altText")
    if not isinstance(alt, str) or not alt.strip():
        problems.append("$.altText: required, non-empty text")
    elif len(alt) > MAX_ALT_TEXT:
        problems.append(f"$.altText: longer than {MAX_ALT_TEXT} characters")
    if "contents" not in message:
        problems.append("$.contents: required")
    else:
        _container(message["contents"], "$.contents", problems)
    try:
        json.dumps(message)
    except (TypeError, ValueError):
        problems.append("$: not JSON-serialisable")
    return problems


def assert_valid_flex(message: object) -> None:
    """Fail the test with every broken rule listed; then parse with the LINE SDK model."""
    problems = flex_problems(message)
    assert not problems, "invalid Flex message:\n  " + "\n  ".join(problems)
    parsed = FlexMessage.from_dict(message)
    assert parsed is not None and parsed.contents is not None, "LINE SDK could not parse the message"


def _container(node, path, problems):
    if not isinstance(node, dict):
        problems.append(f"{path}: must be an object")
        return
    size = len(json.dumps(node, ensure_ascii=False).encode())
    if node.get("type") == "bubble":
        if size > MAX_BUBBLE_BYTES:
            problems.append(f"{path}: bubble JSON is {size} bytes (> {MAX_BUBBLE_BYTES})")
        _bubble(node, path, problems)
    elif node.get("type") == "carousel":
        bubbles = node.get("contents")
        if not isinstance(bubbles, list) or not bubbles:
            problems.append(f"{path}.contents: a carousel needs a list of bubbles")
            return
        if len(bubbles) > MAX_CAROUSEL_BUBBLES:
            problems.append(f"{path}.contents: {len(bubbles)} bubbles (> {MAX_CAROUSEL_BUBBLES})")
        if size > MAX_CAROUSEL_BYTES:
            problems.append(f"{path}: carousel JSON is {size} bytes (> {MAX_CAROUSEL_BYTES})")
        for i, bubble in enumerate(bubbles):
            if not isinstance(bubble, dict) or bubble.get("type") != "bubble":
                problems.append(f"{path}.contents[{i}]: a carousel holds only bubbles")
            else:
                _bubble(bubble, f"{path}.contents[{i}]", problems)
    else:
        problems.append(f"{path}.type: must be 'bubble' or 'carousel'")


def _bubble(node, path, problems):
    if "size" in node and node["size"] not in BUBBLE_SIZES:
        problems.append(f"{path}.size: {node['size']!r} is not a bubble size")
    _enum(node, "direction", "direction", path, problems)
    if not any(block in node for block in ("header", "hero", "body", "footer")):
        problems.append(f"{path}: a bubble needs at least one of header/hero/body/footer")
    for block in ("header", "body", "footer"):
        if block in node:
            if not isinstance(node[block], dict) or node[block].get("type") != "box":
                problems.append(f"{path}.{block}: must be a box")
            else:
                _component(node[block], f"{path}.{block}", problems, parent_layout=None)
    if "hero" in node:
        hero = node["hero"]
        if not isinstance(hero, dict) or hero.get("type") not in ("box", "image"):
            problems.append(f"{path}.hero: must be a box or an image")
        else:
            _component(hero, f"{path}.hero", problems, parent_layout=None)
    for block, style in (node.get("styles") or {}).items():
        for key in ("backgroundColor", "separatorColor"):
            if key in (style or {}):
                _color(style[key], f"{path}.styles.{block}.{key}", problems)
    if "action" in node:
        _action(node["action"], f"{path}.action", problems)


def _component(node, path, problems, parent_layout):
    if not isinstance(node, dict):
        problems.append(f"{path}: must be an object")
        return
    kind = node.get("type")
    if kind not in COMPONENT_TYPES:
        problems.append(f"{path}.type: {kind!r} is not a Flex component type")
        return
    if kind == "span":
        problems.append(f"{path}: a span may appear only in a text's contents")
        return
    if parent_layout == "baseline" and kind not in ("text", "icon", "filler"):
        problems.append(f"{path}: a baseline box holds only text, icon and filler")
    if kind == "icon" and parent_layout != "baseline":
        problems.append(f"{path}: an icon may appear only in a baseline box")
    for key in COLOR_KEYS:
        if key in node:
            _color(node[key], f"{path}.{key}", problems)
    for key in ("margin", "spacing"):
        if key in node:
            _length(node[key], SPACING, f"{path}.{key}", problems, percent=False)
    for key in ("paddingAll", "paddingTop", "paddingBottom", "paddingStart", "paddingEnd",
                "offsetTop", "offsetBottom", "offsetStart", "offsetEnd"):
        if key in node:
            _length(node[key], SPACING, f"{path}.{key}", problems, percent=True)
    if "flex" in node and (not isinstance(node["flex"], int) or node["flex"] < 0):
        problems.append(f"{path}.flex: must be a whole number >= 0")
    for key in ("align", "gravity", "position", "adjustMode"):
        _enum(node, key, key, path, problems)
    if "action" in node:
        _action(node["action"], f"{path}.action", problems)
    {"box": _box, "text": _text, "button": _button, "image": _image, "icon": _icon}.get(
        kind, lambda *_: None)(node, path, problems)


def _box(node, path, problems):
    if "layout" not in node:
        problems.append(f"{path}.layout: required")
    _enum(node, "layout", "layout", path, problems)
    contents = node.get("contents")
    if not isinstance(contents, list):
        problems.append(f"{path}.contents: required list")
        return
    if "borderWidth" in node:
        _length(node["borderWidth"], BORDER_WIDTHS, f"{path}.borderWidth", problems, percent=False)
    if "cornerRadius" in node:
        _length(node["cornerRadius"], SPACING, f"{path}.cornerRadius", problems, percent=False)
    for i, child in enumerate(contents):
        _component(child, f"{path}.contents[{i}]", problems, parent_layout=node.get("layout"))


def _text(node, path, problems):
    spans = node.get("contents") or []
    text = node.get("text")
    # LINE: ``text`` may be left out only when span contents carry the words.
    if not spans and (not isinstance(text, str) or not text):
        problems.append(f"{path}.text: required, non-empty text")
    elif text is not None and not isinstance(text, str):
        problems.append(f"{path}.text: must be text")
    _text_style(node, "text", path, problems)
    if "wrap" in node and not isinstance(node["wrap"], bool):
        problems.append(f"{path}.wrap: must be true or false")
    if "maxLines" in node and (not isinstance(node["maxLines"], int) or node["maxLines"] < 0):
        problems.append(f"{path}.maxLines: must be a whole number >= 0")
    if not isinstance(spans, list):
        problems.append(f"{path}.contents: must be a list of spans")
        return
    for i, span in enumerate(spans):
        span_path = f"{path}.contents[{i}]"
        if not isinstance(span, dict) or span.get("type") != "span":
            problems.append(f"{span_path}: a text's contents hold only spans")
            continue
        if not isinstance(span.get("text"), str) or not span["text"]:
            problems.append(f"{span_path}.text: required, non-empty text")
        if "color" in span:
            _color(span["color"], f"{span_path}.color", problems)
        _text_style(span, "span", span_path, problems)


def _text_style(node, kind, path, problems):
    if "size" in node:
        _length(node["size"], TEXT_SIZES, f"{path}.size", problems, percent=False)
    _enum(node, "weight", "weight", path, problems)
    _enum(node, "decoration", "decoration", path, problems)
    _enum(node, "style", f"style@{kind}", path, problems)


def _button(node, path, problems):
    if "action" not in node:
        problems.append(f"{path}.action: required")
    _enum(node, "style", "style@button", path, problems)
    _enum(node, "height", "height@button", path, problems)


def _image(node, path, problems):
    _url(node, path, problems)
    if "size" in node:
        _length(node["size"], IMAGE_SIZES, f"{path}.size", problems, percent=True)
    if "aspectRatio" in node and not ASPECT_RATIO.match(str(node["aspectRatio"])):
        problems.append(f"{path}.aspectRatio: must be written W:H")
    _enum(node, "aspectMode", "aspectMode", path, problems)


def _icon(node, path, problems):
    _url(node, path, problems)
    if "size" in node:
        _length(node["size"], TEXT_SIZES, f"{path}.size", problems, percent=False)


def _url(node, path, problems):
    url = node.get("url")
    if not isinstance(url, str) or not url.startswith("https://"):
        problems.append(f"{path}.url: required https URL")


def _action(action, path, problems):
    if not isinstance(action, dict) or action.get("type") not in ACTION_TYPES:
        problems.append(f"{path}.type: must be one of {sorted(ACTION_TYPES)}")
        return
    needs = {"uri": "uri", "message": "text", "postback": "data"}.get(action["type"])
    if needs and not action.get(needs):
        problems.append(f"{path}.{needs}: required for a {action['type']} action")


def _enum(node, key, rule, path, problems):
    if key in node and node[key] not in ENUMS[rule]:
        problems.append(f"{path}.{key}: {node[key]!r} is not one of {sorted(ENUMS[rule])}")


def _length(value, keywords, path, problems, *, percent):
    if isinstance(value, str) and (value in keywords or PIXELS.match(value)
                                   or (percent and PERCENT.match(value))):
        return
    allowed = sorted(keywords) + ["Npx"] + (["N%"] if percent else [])
    problems.append(f"{path}: {value!r} is not one of {allowed}")


def _color(value, path, problems):
    if not isinstance(value, str) or not COLOR.match(value):
        problems.append(f"{path}: {value!r} is not a #RRGGBB colour")
