"""The wire format of an issue's email: header values a list mail needs, and the MIME body assembled as bytes.

The body is put together here rather than by the email package, whose pure-Python encoders and generator
cost more per message than everything else in a send (issue 23: hundreds of messages a second).
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
from email.policy import SMTP as SMTP_POLICY
from typing import Any
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
        return _base64(b"\r\n".join(lines) + b"\r\n")
    if cte != "quoted-printable":
        raise ValueError(f"unknown transfer encoding {cte!r}")
    return _qp(lines)


def _base64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _qp(lines: list[bytes]) -> bytes:
    # Each line end is a hard line break in quoted-printable: written LF here, CRLF on the wire.
    return binascii.b2a_qp(b"\n".join(lines) + b"\n", istext=True).replace(b"\n", b"\r\n")


Pieces = tuple[list, list[int]]  # the literal text around the slots (one more than slots), and each slot's value number


def _fill(pieces: Pieces, values: list) -> Any:
    literals, slots = pieces
    out = [literals[0][:0]] * (len(literals) + len(slots))
    out[0::2] = literals
    out[1::2] = [values[i] for i in slots]
    return literals[0][:0].join(out)


class BodyTemplate:
    """A text body with slots (a marker standing for each value), to be filled in and encoded many times.

    Quoted-printable encodes line by line, so every line without a slot is encoded here, once; a filling
    encodes only the lines that hold a slot. A base64 body (C-fast) is encoded whole each time.
    """

    def __init__(self, body: str, marker: str):
        """`marker`: a regular expression of ASCII whose one group is the number of the value it stands for."""
        self.cte = transfer_encoding(body)
        pieces = re.split(marker, body)
        self._text: Pieces = (pieces[0::2], [int(i) for i in pieces[1::2]])
        slot = re.compile(marker.encode("ascii"))
        lines = body.encode("utf-8").splitlines()
        if self.cte == "base64":
            self._chunks: list[bytes | Pieces] = [_split(slot, b"\r\n".join(lines) + b"\r\n")]
            return
        self._chunks, plain = [], []
        for line in lines:
            if slot.search(line) is None:
                plain.append(line)
                continue
            if plain:
                self._chunks.append(_qp(plain))
                plain = []
            self._chunks.append(_split(slot, line))
        if plain:
            self._chunks.append(_qp(plain))

    def text(self, values: list[str]) -> str:
        """The body with the values in their slots."""
        return _fill(self._text, values)

    def encoded(self, values: list[str]) -> bytes:
        """encode_body(self.text(values), self.cte), without encoding again what no value changes."""
        data = [v.encode("utf-8") for v in values]
        if any(b"\n" in v or b"\r" in v for v in data):  # a value would change the lines: encode it all
            return encode_body(self.text(values), self.cte)
        if self.cte == "base64":
            return _base64(_fill(self._chunks[0], data))  # type: ignore[arg-type]
        return b"".join(c if isinstance(c, bytes) else _qp([_fill(c, data)]) for c in self._chunks)


def _split(slot: re.Pattern[bytes], data: bytes) -> Pieces:
    pieces = slot.split(data)
    return pieces[0::2], [int(i) for i in pieces[1::2]]


def multipart_alternative(head: bytes, boundary: str, parts: list[tuple[str, str, bytes]]) -> bytes:
    """A multipart/alternative message: `head` (top headers ending in a blank line, without MIME-Version
    and Content-Type), then each part as (text subtype, transfer encoding, encoded body ending in CRLF)."""
    b = boundary.encode("ascii")
    out = [head[:-2], b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="', b, b'"\r\n\r\n']
    for subtype, cte, payload in parts:
        out += [b"--", b, b"\r\nContent-Type: text/", subtype.encode("ascii"), b'; charset="utf-8"\r\n',
                b"Content-Transfer-Encoding: ", cte.encode("ascii"), b"\r\n\r\n", payload, b"\r\n"]
    out += [b"--", b, b"--\r\n"]
    return b"".join(out)
