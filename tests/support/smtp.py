"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives. By default it is what
a deployment's relay is: STARTTLS required (a certificate of its own CA), then AUTH required.
It can be stopped and started again on the same port (a relay that is down for a while)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import ssl
import tempfile
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from marac_platform.ports import free_port


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key; the certificate is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)  # valid on any day a test stands on
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=365 * 30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def part(message: EmailMessage, subtype: str) -> str:
    """The text of the message's `plain` or `html` part."""
    body = message.get_body((subtype,))
    assert body is not None, f"no text/{subtype} part"
    content: str = body.get_content()
    return content


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.sessions: list[tuple[bool, bool]] = []  # (over TLS, authenticated) per message

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.raw.append(envelope.content)
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.content)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.sessions.append((session.ssl is not None, bool(session.authenticated)))
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self, *, secure: bool = True) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.secure = secure
        self.username = "marac-notify"
        self.password = secrets.token_urlsafe(16)
        self.folder = Path(tempfile.mkdtemp(prefix="marac-smtp-"))
        self.cert_file, key_file = self_signed(self.folder)
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(self.cert_file, key_file)
        self.controller: Controller | None = None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == self.username.encode()
              and auth_data.password == self.password.encode())
        return AuthResult(success=ok)

    def start(self) -> None:
        options: dict[str, Any] = {}
        if self.secure:
            options = {"tls_context": self.tls, "require_starttls": True,
                       "authenticator": self._authenticate, "auth_required": True,
                       "auth_require_tls": True}
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def env(self) -> dict[str, str]:
        """The settings notify needs to reach this server."""
        base = {"MARAC_SMTP_HOST": "127.0.0.1", "MARAC_SMTP_PORT": str(self.port)}
        if not self.secure:
            return {**base, "MARAC_SMTP_SECURITY": "none"}
        return {**base, "MARAC_SMTP_SECURITY": "starttls", "MARAC_SMTP_USERNAME": self.username,
                "MARAC_SMTP_PASSWORD": self.password, "MARAC_SMTP_CA_FILE": str(self.cert_file)}

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop()
