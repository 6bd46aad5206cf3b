"""Write small, valid text PDFs for tests (our own content, so they can live in the repo)."""

from __future__ import annotations

from pathlib import Path


def _escape(line: str) -> str:
    return line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(path: Path, pages: list[list[str]], *, title: str = "", author: str = "") -> Path:
    """A PDF with one page per list of lines (ASCII, Helvetica 10 pt), with optional Info metadata."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")  # filled in below, once the page tree's number is known
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    page_ids = []
    pages_id = len(objects) + 1 + 2 * len(pages)
    for lines in pages:
        text = "BT /F1 10 Tf 12 TL 50 780 Td " + " ".join(f"({_escape(line)}) '" for line in lines) + " ET"
        stream = text.encode("latin-1")
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        page_ids.append(add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, content, font)))
    return _finish_pdf(path, objects, catalog, pages_id, page_ids, title, author)


# A run of text placed on a page: (x, y, size, text, bold). y is the baseline, in points from the bottom.
Run = tuple[float, float, float, str, bool]


def make_layout_pdf(path: Path, pages: list[list[Run]], *, title: str = "", author: str = "") -> Path:
    """A PDF whose runs are placed where given, in Helvetica or Helvetica-Bold at their own sizes, so a test
    can lay out a title, superscript marks, headings and body text as a paper does (ASCII only)."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    catalog = add(b"")
    regular = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    bold = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold >>")
    page_ids = []
    pages_id = len(objects) + 1 + 2 * len(pages)
    for runs in pages:
        ops = " ".join(f"BT /{'F2' if b else 'F1'} {size:g} Tf 1 0 0 1 {x:g} {y:g} Tm ({_escape(text)}) Tj ET"
                       for x, y, size, text, b in runs)
        stream = ops.encode("latin-1")
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        page_ids.append(add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> >>" % (pages_id, content, regular, bold)))
    return _finish_pdf(path, objects, catalog, pages_id, page_ids, title, author)


def _finish_pdf(path: Path, objects: list[bytes], catalog: int, pages_id: int, page_ids: list[int],
                title: str, author: str) -> Path:
    """Add the page tree, the catalog and the Info dictionary to `objects`, and write them with their xref."""
    objects.append(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % i for i in page_ids),
                                                                  len(page_ids)))
    assert len(objects) == pages_id
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id
    objects.append(b"<< /Title (%s) /Author (%s) >>" % (_escape(title).encode("latin-1"),
                                                         _escape(author).encode("latin-1")))
    info = len(objects)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, catalog, info, xref)
    path.write_bytes(bytes(out))
    return path
