"""What the staff commands print: no terminal control sequence from text that came from outside."""

import pytest

from handlers.cli_output import printable


@pytest.mark.parametrize("raw, shown", [
    ("plain text, ไทย, 😀", "plain text, ไทย, 😀"),
    ("two\nlines\tand a tab", "two\nlines\tand a tab"),
    ("\x1b[31mred\x1b[0m", "red"),                       # colours (CSI)
    ("\x1b[2J\x1b[Hcleared", "cleared"),                  # clear the screen, cursor home
    ("\x1b]0;window title\x07after", "after"),            # OSC: the window's title
    ("\x1b]8;;https://evil.test\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink
    ("\x1bPsecret\x1b\\kept", "kept"),                    # DCS
    ("\x1b7saved\x1b8", "saved"),                         # two-character escapes
    ("\x9b2Jc1", "c1"),                                   # the single-byte CSI
    ("over\rwritten", "overwritten"),                     # CR would overwrite the line
    ("bell\x07 back\x08space\x00nul\x7f", "bell backspacenul"),
    ("file\u202eexe.doc", "fileexe.doc"),                 # RIGHT-TO-LEFT OVERRIDE
    ("\u2066isolate\u2069 \u200emark", "isolate mark"),
    ("dangling \x1b[", "dangling "),
    ("emoji\u200djoiner", "emoji\u200djoiner"),           # a joiner is no control
])
def test_printable_strips_escapes_controls_and_bidi(raw, shown):
    assert printable(raw) == shown
