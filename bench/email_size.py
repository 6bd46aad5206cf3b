"""Measure: the size of an issue email's HTML part, for a realistic 10-paper issue in en and ja.

Gmail clips an HTML part over 102 KB and hides what follows, the unsubscribe footer included.
The issue is tests/email_fixtures.long_issue (10 papers x 10 answers with long quotes), mailed to a
subscriber with vote links and a public site, as `digest send` builds it. Run by hand:

    .venv/bin/python bench/email_size.py

One line per edition and language, `email <edition> <lang>: HTML <bytes> B (...), <bytes> B (...) as encoded
in the message`; last line: `email: compact en <KB> KB, ja <KB> KB of HTML (full: <KB> / <KB> KB); Gmail clips
above 102 KB`.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from email_fixtures import long_issue  # noqa: E402

from digest.config import Config, MailConfig  # noqa: E402
from digest.mail.message import Recipient, build_message  # noqa: E402
from digest.pdf.thumbnail import thumbnail_path  # noqa: E402


def measure(edition: str | None, language: str, folder: Path) -> tuple[int, int]:
    """(bytes of the HTML, bytes of the HTML part as encoded in the message) for one edition and language.

    Every paper has a cached thumbnail in `folder`, so the email shows one per paper, as on a public site.
    """
    config = Config(path=folder / "digest.toml")
    issue = long_issue(language)
    for e in issue.entries:
        thumb = thumbnail_path(config, e.paper)
        thumb.parent.mkdir(parents=True, exist_ok=True)
        thumb.write_bytes(b"\xff\xd8 a cached thumbnail")
    config.web.public_url = "https://digest.example.org"
    config.output.archive_url = "https://digest.example.org"
    config.mail.unsubscribe_url = "https://digest.example.org/unsubscribe/{token}"
    if edition is not None:
        config.mail.edition = edition
    rcpt = Recipient("hanako@example.jp", "山田 花子", token="t" * 43, subscriber_id=7, vote_key=b"k" * 32)
    msg = build_message(config, issue, rcpt)
    part = msg.get_body(("html",))
    html = part.get_content()
    encoded = part.get_payload(decode=False)
    return len(html.encode("utf-8")), len(encoded.encode("ascii"))


def main() -> None:
    editions = ["compact", "full"] if "edition" in {f.name for f in fields(MailConfig)} else [None]
    kb: dict[tuple[str | None, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for edition in editions:
            for language in ("en", "ja"):
                raw, encoded = measure(edition, language, Path(tmp))
                kb[edition, language] = raw / 1024
                print(f"email {edition or 'current'} {language}: HTML {raw} B ({raw / 1024:.1f} KB), "
                      f"{encoded} B ({encoded / 1024:.1f} KB) as encoded in the message")
    first = editions[0]
    line = f"email: {first or 'current'} en {kb[first, 'en']:.1f} KB, ja {kb[first, 'ja']:.1f} KB of HTML"
    if "full" in editions:
        line += f" (full: {kb['full', 'en']:.1f} / {kb['full', 'ja']:.1f} KB)"
    print(line + "; Gmail clips above 102 KB")


if __name__ == "__main__":
    main()
