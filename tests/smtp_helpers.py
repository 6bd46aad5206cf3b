"""A real SMTP server for tests (aiosmtpd on 127.0.0.1), with optional TLS, auth, delays and refusals."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "digest", "s3cret-pässword"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    authenticated: bool
    tls: bool
    peer: tuple = ()  # the client's (host, port): one value per connection

    @property
    def msg(self) -> EmailMessage:
        return message_from_bytes(self.data, policy=default_policy)  # type: ignore[return-value]


@dataclass
class Inbox:
    """The aiosmtpd handler: records messages; can refuse some recipients or accept slowly."""

    rcpt_replies: dict[str, str] = field(default_factory=dict)  # address -> e.g. "451 4.2.1 later"
    delay: float = 0.0  # seconds slept after a message is received, before the 250 reply
    # A server that takes responsibility for a message only once it has answered 250 (RFC 5321 6.1):
    # when the client goes away during `delay`, the message moves from `messages` to `lost`.
    lose_unanswered: bool = False
    messages: list[Received] = field(default_factory=list)
    lost: list[Received] = field(default_factory=list)
    received: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        got = Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, bool(session.authenticated),
                       session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
                       tuple(session.peer))
        with self.lock:
            self.messages.append(got)
        self.received.set()
        if self.delay:
            await self.hold(got, self.delay)
        return "250 2.0.0 OK"

    async def hold(self, got: Received, seconds: float) -> None:
        """Keep a received message unanswered for `seconds`; if the client goes away meanwhile, a server that
        answers before it takes responsibility (`lose_unanswered`) loses it."""
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:  # aiosmtpd cancels the handler when the client disconnects
            if self.lose_unanswered:
                with self.lock:
                    self.messages.remove(got)
                    self.lost.append(got)
            raise

    def count_for(self, address: str) -> int:
        with self.lock:
            return sum(1 for m in self.messages for r in m.rcpt_tos if r.lower() == address.lower())


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() \
        and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself


@contextmanager
def smtp_server(inbox: Inbox, *, security: str = "none", auth: bool = False,
                cert: tuple[Path, Path] | None = None) -> Iterator[int]:
    """Run an SMTP server on 127.0.0.1 and yield its port; security is none, starttls or ssl."""
    port = free_port()
    kwargs: dict = {}
    if security != "none":
        assert cert is not None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
        if security == "starttls":
            kwargs.update(tls_context=ctx, require_starttls=True)
        else:
            kwargs.update(ssl_context=ctx)
    if auth:
        kwargs.update(authenticator=_authenticator, auth_required=True, auth_require_tls=security != "none")
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
