"""Sending: e-mail through the deployment's SMTP relay (STARTTLS or TLS, authenticated), and
webhooks signed the Standard Webhooks way, over httpx. The only I/O of notify.

Each attempt of one delivery carries the same Message-ID (e-mail) or `webhook-id`: when a
send's outcome is unknown (the worker died after the relay took the message, before the row
was marked) it is sent again, and the receiver can drop the copy by that id.
"""

from __future__ import annotations

import json
import smtplib
import ssl
import time
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formataddr, parseaddr
from types import TracebackType
from typing import Final, cast

import httpx
from standardwebhooks.webhooks import Webhook

from marac_platform.settings import MailSettings
from services.notify.domain import permanent_smtp_code

SMTP_TIMEOUT_S: Final = 20
WEBHOOK_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)
# Bodies that are not ASCII go quoted-printable, so the text stays readable on the wire.
_UTF8: Final = Charset("utf-8")
_UTF8.body_encoding = QP


class DeliveryFailed(Exception):
    """A send that did not happen; `permanent` when trying again cannot help."""

    def __init__(self, reason_code: str, *, permanent: bool = False) -> None:
        super().__init__(reason_code)
        self.reason_code = reason_code
        self.permanent = permanent


def message_id(delivery_id: str) -> str:
    return f"<{delivery_id}@marac>"


def email(mail: MailSettings, to: tuple[str, ...], subject: str, text: str, html: str,
          delivery_id: str) -> Message:
    """The e-mail: a plain-text part and an HTML alternative. Built with the compat32 MIME
    classes, a quarter of the CPU of `EmailMessage` (whose header parsing and folding was a
    tenth of notify's worker in a burst), so what that did for us is done here: no header
    value may break a line, a name that is not ASCII is encoded (RFC 2047), and a body that
    is not plain short-lined ASCII goes quoted-printable."""
    headers = (("Message-ID", message_id(delivery_id)), ("From", _address(mail.mail_from)),
               ("To", ", ".join(_address(a) for a in to)), ("Subject", subject),
               ("Auto-Submitted", "auto-generated"))  # RFC 3834: no out-of-office replies
    message = MIMEMultipart("alternative")
    for name, value in headers:
        if "\n" in value or "\r" in value:  # would start a header of its own
            raise DeliveryFailed("smtp_header", permanent=True)
        message[name] = value if value.isascii() else cast(str, Header(value, "utf-8",
                                                                       header_name=name))
    for body, subtype in ((text, "plain"), (html, "html")):
        plain = body.isascii() and all(len(line) <= 998 for line in body.splitlines())
        part = MIMENonMultipart("text", subtype)
        part.set_payload(body, "us-ascii" if plain else _UTF8)
        message.attach(part)
    return message


def _address(address: str) -> str:
    """`Name <user@host>` with a name that is not ASCII encoded, the address left as it is."""
    if address.isascii():
        return address
    name, addr = parseaddr(address)
    return formataddr((name, addr), charset="utf-8")


# A session left open between batches is closed once idle this long: relays drop idle
# clients after a while, and a fresh session is cheaper than a failed send.
IDLE_CLOSE_S: Final = 20.0


class Mailer:
    """One SMTP session, opened at the first e-mail and reopened once if the relay dropped it
    in between. The worker keeps one for its batches (`begin` each), so a burst does not pay a
    TLS handshake and a login per batch."""

    def __init__(self, mail: MailSettings) -> None:
        self.mail = mail
        self.session: smtplib.SMTP | None = None
        self.last_used = 0.0
        # Once the relay could not be reached, the rest of the batch fails at once with the
        # same code (and its backoff) instead of each waiting out a connection timeout.
        self.unreachable: str | None = None
        self._context: ssl.SSLContext | None = None

    def begin(self) -> Mailer:
        """A new batch: the relay may be reachable again; an idle session is closed first."""
        self.unreachable = None
        if self.session is not None and time.monotonic() - self.last_used > IDLE_CLOSE_S:
            self.close()
        return self

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def _tls(self) -> ssl.SSLContext:
        if self._context is None:  # loading the CA bundle costs more than the handshake
            self._context = ssl.create_default_context(
                cafile=str(self.mail.ca_file) if self.mail.ca_file else None)
        return self._context

    def _open(self) -> smtplib.SMTP:
        mail = self.mail
        if not mail.host:
            raise DeliveryFailed("smtp_not_configured")
        session: smtplib.SMTP
        if mail.security == "tls":
            session = smtplib.SMTP_SSL(mail.host, mail.port, timeout=SMTP_TIMEOUT_S,
                                       context=self._tls())
        else:
            session = smtplib.SMTP(mail.host, mail.port, timeout=SMTP_TIMEOUT_S)
        try:
            session.ehlo()
            if mail.security == "starttls":
                session.starttls(context=self._tls())
                session.ehlo()
            if mail.username and mail.password:
                session.login(mail.username, mail.password)
        except BaseException:
            session.close()
            raise
        return session

    def send(self, message: Message) -> None:
        if self.unreachable:
            raise DeliveryFailed(self.unreachable)
        try:
            for attempt in (1, 2):
                if self.session is None:
                    try:
                        self.session = self._open()
                    except (OSError, smtplib.SMTPConnectError) as exc:
                        if isinstance(exc, ssl.SSLError):
                            raise
                        self.unreachable = f"smtp_{type(exc).__name__}"
                        raise DeliveryFailed(self.unreachable) from None
                try:
                    self.session.send_message(message)
                    self.last_used = time.monotonic()
                    return
                except smtplib.SMTPServerDisconnected:
                    self.session = None  # an idle session the relay closed: one fresh try
                    if attempt == 2:
                        raise
        except DeliveryFailed:
            raise
        except smtplib.SMTPAuthenticationError:
            self.close()
            raise DeliveryFailed("smtp_auth") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            code = max(codes) if codes else 550
            raise DeliveryFailed(f"smtp_{code}", permanent=permanent_smtp_code(code)) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise DeliveryFailed(f"smtp_{exc.smtp_code}",
                                 permanent=permanent_smtp_code(exc.smtp_code)) from None
        except ssl.SSLError:
            self.close()
            raise DeliveryFailed("smtp_tls") from None
        except (OSError, smtplib.SMTPException) as exc:
            self.close()
            raise DeliveryFailed(f"smtp_{type(exc).__name__}") from None

    def close(self) -> None:
        session, self.session = self.session, None
        if session is not None:
            try:
                session.quit()
            except (OSError, smtplib.SMTPException):
                session.close()


def webhook_body(event_id: str, kind: str, reference: str, case_id: str | None, area_id: str,
                 link: str) -> str:
    return json.dumps({"id": event_id, "type": kind, "area": area_id, "reference": reference,
                       "case_reference": case_id, "link": link}, separators=(",", ":"))


def post_webhook(client: httpx.Client, url: str, secret: str, body: str, delivery_id: str,
                 now: datetime) -> None:
    """Signed over `webhook-id.webhook-timestamp.body` (HMAC-SHA256), as the receiver's Standard
    Webhooks library verifies it; a fresh timestamp each attempt, the same id."""
    headers = {
        "content-type": "application/json",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(delivery_id, now, body),
        "user-agent": "marac-notify",
    }
    try:
        response = client.post(url, content=body.encode(), headers=headers)
    except httpx.TimeoutException:
        raise DeliveryFailed("webhook_timeout") from None
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"webhook_{type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        # 410: the receiver says the endpoint is gone for good (Standard Webhooks).
        raise DeliveryFailed(f"webhook_status_{response.status_code}",
                             permanent=response.status_code == 410)


def http_client() -> httpx.Client:
    """One client per process: its connection pool serves every webhook of every run."""
    return httpx.Client(timeout=WEBHOOK_TIMEOUT, follow_redirects=False,
                        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10))
