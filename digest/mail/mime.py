"""The wire format of an issue's email: header values a list mail needs, and the MIME body assembled as bytes.

The body is put together here rather than by the email package, whose pure-Python encoders and generator
cost more per message than everything else in a send (issue 23: hundreds of messages a second).
"""

from __future__ import annotations

import base64
import binascii
import quopri
from email.policy import SMTP as SMTP_POLICY
from urllib.parse import quote

from digest.errors import ConfigError

_MAX_LINE = 998  # RFC 5322 2.1.1, without the CRLF
# Characters a URL keeps in a header (RFC 3986 reserved, plus '%' so existing escapes stay).
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


def list_unsubscribe_value(urls: list[str]) -> str:
    """The List-Unsubscribe field body as RFC 2369 writes it: <url>, <url>, folded only between entries."""
    # Anything outside printable ASCII (a space, a CR/LF, an IDN mailto) is percent-encoded, so no
    # URL can break out of its angle brackets or the header.
    entries = [f"<{quote(u, safe=_URL_SAFE)}>" for u in urls]
    one_line = ", ".join(entries)
    if len("List-Unsubscribe: ") + len(one_line) <= SMTP_POLICY.max_line_length:
        return one_line
    value = ",\r\n ".join(entries)
    if len("List-Unsubscribe: ") + max(len(e) + 2 for e in entries) > _MAX_LINE:
        raise ConfigError(f"the unsubscribe link is too long for a mail header ({max(map(len, entries))} chars)",
                          hint="shorten mail.unsubscribe_url or web.public_url")
    return value


def transfer_encoding(body: str) -> str:
    """The shorter of quoted-printable and base64 for a body: Japanese text triples in the first.

    The email package guesses from the first lines only, which are ASCII markup even in a Japanese
    issue, and so would send a part three times its size, past the size at which Gmail clips it.
    """
    data = body.encode("utf-8")
    return "base64" if len(base64.encodebytes(data)) < len(quopri.encodestring(data)) else "quoted-printable"


def encode_body(body: str, cte: str) -> bytes:
    """A text body in UTF-8 encoded as `cte` (base64 or quoted-printable), lines ending in CRLF.

    Line ends become CRLF as the email package makes them (a text part's canonical form), so the
    decoded text is the same whichever encoding carries it.
    """
    lines = body.encode("utf-8").splitlines()
    if cte == "base64":
        return base64.encodebytes(b"\r\n".join(lines) + b"\r\n").replace(b"\n", b"\r\n")
    if cte != "quoted-printable":
        raise ValueError(f"unknown transfer encoding {cte!r}")
    # Each line end is a hard line break in quoted-printable: written LF here, CRLF on the wire.
    return binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True).replace(b"\n", b"\r\n")


def multipart_alternative(head: bytes, boundary: str, text: tuple[str, str], html: tuple[str, str]) -> bytes:
    """A multipart/alternative message: `head` (top headers ending in a blank line, without MIME-Version
    and Content-Type), then the (body, transfer encoding) of the text part and of the HTML part."""
    b = boundary.encode("ascii")
    out = [head[:-2], b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="', b, b'"\r\n\r\n']
    for subtype, (body, cte) in (("plain", text), ("html", html)):
        out += [b"--", b, b"\r\nContent-Type: text/", subtype.encode(), b'; charset="utf-8"\r\n',
                b"Content-Transfer-Encoding: ", cte.encode(), b"\r\n\r\n", encode_body(body, cte), b"\r\n"]
    out += [b"--", b, b"--\r\n"]
    return b"".join(out)
