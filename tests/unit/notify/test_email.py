"""The e-mail notify hands to the relay, as a receiving mail client parses it."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import cast

import pytest

from marac_platform.settings import MailSettings
from services.notify import delivery


def received(message: Message) -> EmailMessage:
    raw = message.as_bytes()
    return cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(raw))


def test_headers_and_both_parts_read_back() -> None:
    sent = delivery.email(MailSettings(mail_from="MARAC <marac@example.org>"),
                          ("police@example.org", "idva@example.org"), "Case C-1 scheduled",
                          "Case C-1 is on the list.\n", "<p>Case C-1 is on the list.</p>", "dlv-1")
    mail = received(sent)
    assert mail["Message-ID"] == "<dlv-1@marac>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert [a.addr_spec for a in mail["To"].addresses] == ["police@example.org", "idva@example.org"]
    assert mail["From"].addresses[0].addr_spec == "marac@example.org"
    assert mail.get_body(("plain",)).get_content() == "Case C-1 is on the list.\n"
    assert mail.get_body(("html",)).get_content() == "<p>Case C-1 is on the list.</p>"


SUBJECT = "Achos wedi\u2019i drefnu \u2013 8 Rhagfyr"  # a curly apostrophe, an en dash


def test_names_and_text_that_are_not_ascii_are_encoded_and_read_back_whole() -> None:
    long_line = "y" * 1500  # over SMTP's 998: must not go out as one line
    sent = delivery.email(MailSettings(mail_from="Cyngor Môn <marac@example.org>"),
                          ("idva@example.org",), SUBJECT,
                          f"Helô\n{long_line}\n", "<p>Helô</p>", "dlv-2")
    raw = sent.as_bytes()
    assert raw.isascii() and max(len(line) for line in raw.splitlines()) <= 998
    mail = received(sent)
    assert str(mail["Subject"]) == SUBJECT
    assert mail["From"].addresses[0].display_name == "Cyngor Môn"
    assert mail["From"].addresses[0].addr_spec == "marac@example.org"
    assert mail.get_body(("plain",)).get_content() == f"Helô\n{long_line}\n"


@pytest.mark.parametrize("subject", ["x\nBcc: someone@example.org", "x\rBcc: a@example.org"])
def test_a_value_that_would_add_a_header_is_refused_for_good(subject: str) -> None:
    with pytest.raises(delivery.DeliveryFailed) as refused:
        delivery.email(MailSettings(), ("a@example.org",), subject, "t", "h", "dlv-3")
    assert refused.value.permanent and refused.value.reason_code == "smtp_header"
