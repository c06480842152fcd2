"""The phrasing kept of a question the bot could not answer: normalised, digits and e-mails masked, cut."""

import pytest

from bot.unanswered import MAX_PHRASING, phrasing


@pytest.mark.parametrize("text, kept", [
    ("ลูก ๘ เดือน ฉีดวัคซีนอะไรคะะะ", "ลูก # เดือน ฉีดวัคซีนอะไรคะ"),            # Thai digits, stretched ending
    ("เลขบัตร 1-2345-67890-12-3 ค่ะ", "เลขบัตร # # # # # ค่ะ"),                  # made-up citizen id: each run
    ("HN１２３４ นัดวันที่ 5", "hn# นัดวันที่ #"),                                # full-width digits
    ("ส่งมาที่somchai.t@mail.co.thนะคะ", "ส่งมาที่ @ นะคะ"),                      # no spaces around the address
    ("Email me: A.B+c@Example.COM ok?", "email me @ ok"),
    ("So\u200bmchai@mail.com", "@"),                                             # a zero-width space inside
    ("ยาย ၁၂ ปี", "ยาย # ปี"),                                                    # Myanmar digits too
    ("😀🙏", ""),
])
def test_phrasing_masks_digits_and_emails_after_normalising(text, kept):
    assert phrasing(text) == kept


def test_phrasing_is_cut_to_its_maximum():
    long = " ".join(["ขอถามเรื่องแมว"] * 40)
    assert len(phrasing(long)) <= MAX_PHRASING == 200
    assert not phrasing(long).endswith(" ")
