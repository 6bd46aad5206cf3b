"""The child-process side of thumbnails: renders the top of a PDF's first page with pypdfium2 into a JPEG.

Run only by digest.pdf.thumbnail as `python -m digest.pdf.thumbnail_child PDF OUT WIDTH HEIGHT MEMORY_MB
CPU_SECONDS`. PDFium is C code fed hostile files, so it runs here, under a CPU-time and an address-space
limit, and the parent only ever sees an exit status and a file. Exit 0: OUT written; 1: the PDF could
not be rendered (the reason on stderr).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

_MAX_PAGE_POINTS = 14_400  # PDF's largest page side (200 inches); beyond it the file is not a paper


def _limit(memory_mb: int, cpu_seconds: int) -> None:
    # The CPU limit makes the kernel end a child stuck in PDFium even if its parent was killed.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    limit = memory_mb * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def render_first_page(pdf_path: Path, out: Path, width: int, height: int) -> None:
    """Write the top width x height px of page 1, scaled to `width`, as a JPEG; raises for any bad PDF."""
    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        if len(pdf) < 1:
            raise ValueError("the PDF has no page")
        page = pdf[0]
        w, h = page.get_size()
        if not (1 <= w <= _MAX_PAGE_POINTS and 1 <= h <= _MAX_PAGE_POINTS):
            raise ValueError(f"page size {w:.0f} x {h:.0f} pt")
        scale = width / w
        # Only the top of the page that fills the box is rendered: the bitmap is never over width x height.
        below = max(0.0, h - height / scale)
        bitmap = page.render(scale=scale, crop=(0, below, 0, 0), may_draw_forms=False)
        image = bitmap.to_pil().convert("RGB")
    finally:
        pdf.close()
    if all(lo >= 250 for lo, _ in image.getextrema()):
        raise ValueError("the first page renders blank")
    canvas = Image.new("RGB", (width, height), "white")
    canvas.paste(image.crop((0, 0, min(width, image.width), min(height, image.height))), (0, 0))
    canvas.save(out, "JPEG", quality=80, optimize=True, progressive=True)


def main(argv: list[str]) -> int:
    pdf_path, out, width, height, memory_mb, cpu_seconds = argv
    _limit(int(memory_mb), int(cpu_seconds))
    try:
        render_first_page(Path(pdf_path), Path(out), int(width), int(height))
    except MemoryError:
        print("memory", file=sys.stderr)
        return 1
    except Exception as e:  # broken PDFs raise anything; this process is the boundary
        print(f"{type(e).__name__}: {e}"[:200], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
