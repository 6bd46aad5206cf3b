"""One SMTP connection that sends many messages: TLS and login as configured, each message's outcome
classified as sent, temporary, permanent or unknown (digest.mail.delivery keeps the ledger)."""

from __future__ import annotations

import base64
import os
import re
import smtplib
import socket
import ssl
from collections.abc import Callable

from digest.config import MailConfig
from digest.errors import DigestError, MailError


class Mailer:
    """One SMTP connection reused for many messages; reconnects after the server drops it."""

    def __init__(self, mail: MailConfig, env: dict[str, str] | None = None):
        self.mail = mail
        self.env = os.environ if env is None else env
        self.smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def connect(self) -> smtplib.SMTP:
        """Open (or reuse) the connection: TLS as configured, then login with the password from the env."""
        if self.smtp is not None:
            return self.smtp
        m = self.mail
        if m.security not in ("starttls", "ssl", "none"):
            raise DigestError(f"mail.security is {m.security!r}", hint="use starttls, ssl or none")
        password = None
        if m.username:
            password = self.env.get(m.password_env or "")
            if not password:
                raise MailError(f"mail.username is set but ${m.password_env} is empty",
                                hint=f"export {m.password_env}=... before sending")
        context = ssl.create_default_context()  # honours $SSL_CERT_FILE for a private CA
        smtp: smtplib.SMTP | None = None
        try:
            if m.security == "ssl":
                smtp = smtplib.SMTP_SSL(m.host, m.port, timeout=m.timeout, context=context)
            else:
                smtp = smtplib.SMTP(m.host, m.port, timeout=m.timeout)
            smtp.ehlo()
            if m.security == "starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if m.username:
                _login(smtp, m.username, password or "")
        except (OSError, smtplib.SMTPException) as e:
            if smtp is not None:
                smtp.close()  # a half-open connection is not kept
            if isinstance(e, smtplib.SMTPAuthenticationError):
                raise MailError(f"SMTP login as {m.username!r} was refused ({e.smtp_code})",
                                hint=f"check mail.username and ${m.password_env}") from None
            if isinstance(e, smtplib.SMTPNotSupportedError):
                raise MailError(f"{m.host}:{m.port} does not support that: {e}",
                                hint="check mail.security (starttls, ssl or none)") from None
            raise MailError(f"cannot connect to the SMTP server {m.host}:{m.port}: {e}",
                            hint="check mail.host, mail.port and mail.security") from None
        self.smtp = smtp
        return smtp

    def close(self) -> None:
        """Say QUIT when the connection still works; drop it either way."""
        # Taken out first: after a Ctrl-C the sending thread may still be dropping the same connection (abort()
        # cut its socket), and either of them may see it gone; closing it twice is harmless.
        smtp, self.smtp = self.smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def abort(self) -> None:
        """From another thread: cut the connection without a word, so a send blocked on it returns at once
        (with 'unknown' once the message is under way: its row stays 'sending' and the next send resends it).

        Nothing more can be written on it afterwards, so a QUIT from close() cannot slip into a message."""
        smtp = self.smtp
        sock = getattr(smtp, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def send(self, sender: str, rcpt: str, data: bytes, committing: Callable[[], None] | None = None
             ) -> tuple[str, str]:
        """Send one message; returns (outcome, detail) with outcome sent/temporary/permanent/unknown.

        `committing` runs after the server's 354 and before the message goes out: the caller
        records "may have been sent" there.
        """
        smtp = self.connect()
        try:
            for step, args, ok in (("mail", (sender,), (250,)), ("rcpt", (rcpt,), (250, 251)),
                                   ("docmd", ("DATA",), (354,))):
                code, resp = getattr(smtp, step)(*args)
                if code not in ok:
                    self._reset()
                    return _classify(code, resp)
        except (OSError, smtplib.SMTPException) as e:
            # Nothing of the message was sent yet: safe to try again later.
            self._drop()
            return "temporary", f"connection lost before the message: {e}"
        if committing:
            committing()
        try:
            smtp.send(_dot_stuff(data))
            code, resp = smtp.getreply()
        except (OSError, smtplib.SMTPException) as e:
            self._drop()
            return "unknown", f"connection lost while sending the message: {e}"
        if code == 250:
            return "sent", ""
        return _classify(code, resp)

    def _reset(self) -> None:
        smtp = self.smtp
        try:
            if smtp is not None:
                smtp.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        smtp, self.smtp = self.smtp, None  # see close()
        if smtp is not None:
            smtp.close()


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    smtp.ehlo_or_helo_if_needed()
    mechanisms = smtp.esmtp_features.get("auth", "").upper().split()
    if "PLAIN" not in mechanisms:
        if not (user + password).isascii():
            raise smtplib.SMTPNotSupportedError("a non-ASCII login needs AUTH PLAIN, which the server lacks")
        smtp.login(user, password)
        return
    # One AUTH PLAIN attempt, UTF-8 as RFC 4616 says (smtplib would encode ASCII only, and on a
    # refusal it goes on trying other mechanisms).
    blob = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode("ascii")
    code, resp = smtp.docmd("AUTH", "PLAIN " + blob)
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, resp)


def _classify(code: int, resp: bytes | str) -> tuple[str, str]:
    text = resp.decode("utf-8", "replace") if isinstance(resp, bytes) else str(resp)
    detail = f"{code} {text}".strip()
    if 400 <= code < 500 or code == -1:
        return "temporary", detail
    return "permanent", detail


def _dot_stuff(data: bytes) -> bytes:
    # RFC 5321 4.5.2: a line starting with '.' gets another '.'; the message ends with CRLF.CRLF.
    if data.startswith(b".") or b"\n." in data:  # a find is far cheaper than the substitution on 100 KB
        data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"
