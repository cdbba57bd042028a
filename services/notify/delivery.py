"""Sending one delivery: SMTP for e-mail, an HTTP POST for webhooks. The only I/O of notify."""

from __future__ import annotations

import json
import smtplib
import urllib.request
from email.message import EmailMessage

from marac_platform.settings import Settings

TIMEOUT_S = 10


class DeliveryFailed(Exception):
    def __init__(self, reason_code: str) -> None:
        super().__init__(reason_code)
        self.reason_code = reason_code


def send_email(settings: Settings, to: str, subject: str, body: str, message_id: str) -> None:
    """`message_id` is the same at every attempt of one delivery: a receiver can drop a copy."""
    if not settings.smtp_host:
        raise DeliveryFailed("smtp_not_configured")
    message = EmailMessage()
    message["Message-ID"] = message_id
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_S) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"smtp_{type(exc).__name__}") from None


def send_webhook(url: str, payload: dict[str, str], delivery_id: str) -> None:
    """`delivery_id` goes in Idempotency-Key, the same at every attempt of one delivery."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": delivery_id})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            if response.status >= 300:
                raise DeliveryFailed(f"webhook_status_{response.status}")
    except OSError as exc:
        raise DeliveryFailed(f"webhook_{type(exc).__name__}") from None
