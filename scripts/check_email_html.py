#!/usr/bin/env python3
"""Render the HTML part of an issue email in headless Chromium at 600 px and 375 px.

Checks: no horizontal overflow (document.scrollWidth within the viewport, no element
sticking out), every image has alt text and loads, no console error (such as an image that
failed to load), no <script> at all (and the page is loaded with scripts disabled). Saves one
full-height screenshot per width; with --dark, also checks and shoots the dark colour scheme.

    python scripts/check_email_html.py archive/outbox/2026-W47/0001-ada@example.org.eml --out shots/
    python scripts/check_email_html.py archive/outbox/2026-W47/preview.html

Exit status 0 when every width passes, 1 otherwise, 2 when chromium is missing.
"""

from __future__ import annotations

import argparse
import base64
import email
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from email.policy import default as default_policy
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--no-default-browser-check", "--hide-scrollbars", "--mute-audio"]

# Evaluated in the page (whose own scripts are disabled): layout width, elements past the edge, images.
MEASURE = """
(function () {
  var d = document.documentElement, w = window.innerWidth, over = [];
  var all = document.body.getElementsByTagName('*');
  for (var i = 0; i < all.length; i++) {
    var r = all[i].getBoundingClientRect();
    if (r.width > 0 && (r.right > w + 1 || r.left < -1)) {
      over.push(all[i].tagName + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
    }
  }
  var imgs = [], broken = 0;
  for (var j = 0; j < document.images.length; j++) {
    imgs.push(document.images[j].getAttribute('alt'));
    if (!document.images[j].complete || !document.images[j].naturalWidth) { broken++; }
  }
  return {innerWidth: w, scrollWidth: d.scrollWidth, scrollHeight: d.scrollHeight,
          overflowing: over.slice(0, 10), images: imgs, broken: broken};
})()
"""


def html_of(path: Path) -> str:
    """The HTML part of an .eml file, or the file itself when it is HTML."""
    data = path.read_bytes()
    if path.suffix.lower() == ".eml":
        msg = email.message_from_bytes(data, policy=default_policy)
        part = msg.get_body(("html",))
        if part is None:
            raise SystemExit(f"{path}: no text/html part")
        return part.get_content()
    return data.decode("utf-8")


def chromium() -> str | None:
    """The Chromium binary on PATH."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4): no port, no network.

    The protocol is needed because a headless window cannot be narrower than 500 px; device
    metrics emulation gives a true 375 px phone viewport.
    """

    def __init__(self, binary: str, profile: Path):
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()

        def wire() -> None:
            # Via fresh copies, so neither end is clobbered if it already sits on fd 3 or 4.
            a, b = os.dup(to_r), os.dup(from_w)
            os.dup2(a, 3)
            os.dup2(b, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 60.0) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, session: str, timeout: float = 60.0) -> dict:
        while True:
            for i, ev in enumerate(self.events):
                if ev.get("method") == method and ev.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self._read(timeout))

    def _read(self, timeout: float) -> dict:
        end = time.monotonic() + timeout
        while b"\0" not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.from_r], [], [], left)[0]:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self.from_r, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium exited")
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self.to_w)
        os.close(self.from_r)


def check(browser: Browser, page: Path, width: int, out_dir: Path, scheme: str = "light") -> tuple[bool, str]:
    """Measure and screenshot the page at one viewport width; returns (ok, one-line verdict)."""
    target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    s = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    browser.call("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500}, s)
    browser.call("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]}, s)
    browser.call("Emulation.setScriptExecutionDisabled", {"value": True}, s)  # an email runs no script
    browser.call("Page.enable", {}, s)
    browser.call("Log.enable", {}, s)
    browser.call("Runtime.enable", {}, s)
    browser.call("Page.navigate", {"url": page.as_uri()}, s)
    browser.wait_event("Page.loadEventFired", s)
    info = browser.call("Runtime.evaluate", {"expression": MEASURE, "returnByValue": True}, s)["result"]["value"]
    errors = [ev["params"]["entry"].get("text", "") + " " + ev["params"]["entry"].get("url", "")
              for ev in browser.events if ev.get("sessionId") == s and ev.get("method") == "Log.entryAdded"
              and ev["params"]["entry"].get("level") == "error"]
    errors += ["console error" for ev in browser.events if ev.get("sessionId") == s and (
        ev.get("method") == "Runtime.exceptionThrown"
        or (ev.get("method") == "Runtime.consoleAPICalled" and ev["params"].get("type") == "error"))]
    browser.events = [ev for ev in browser.events if ev.get("sessionId") != s]
    height = max(600, min(int(info["scrollHeight"]), 16000))
    shot = out_dir / (f"email-{width}.png" if scheme == "light" else f"email-{width}-{scheme}.png")
    png = browser.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                       "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}}, s)["data"]
    shot.write_bytes(base64.b64decode(png))
    browser.call("Target.closeTarget", {"targetId": target})
    problems = []
    if info["innerWidth"] != width:
        problems.append(f"viewport is {info['innerWidth']} px, not {width}")
    if info["scrollWidth"] > info["innerWidth"]:
        problems.append(f"scrollWidth {info['scrollWidth']} > {info['innerWidth']}")
    if info["overflowing"]:
        problems.append("elements past the edge: " + "; ".join(info["overflowing"]))
    missing_alt = [a for a in info["images"] if not a]
    if missing_alt:
        problems.append(f"{len(missing_alt)} image(s) without alt text")
    if info["broken"]:
        problems.append(f"{info['broken']} image(s) did not load")
    if errors:
        problems.append("console errors: " + "; ".join(errors[:5]))
    label = f"{width}px" + ("" if scheme == "light" else f" {scheme}")
    if problems:
        return False, f"{label}: FAIL " + ", ".join(problems) + f" (screenshot {shot})"
    return True, (f"{label}: ok (scrollWidth {info['scrollWidth']}, height {info['scrollHeight']}, "
                  f"{len(info['images'])} images; screenshot {shot})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", type=Path, help=".eml written by `digest send --dry-run`, or an .html file")
    ap.add_argument("--out", type=Path, default=Path("."), help="folder for the screenshots")
    ap.add_argument("--widths", default="600,375", help="comma-separated widths in px")
    ap.add_argument("--dark", action="store_true", help="also check the dark colour scheme")
    args = ap.parse_args(argv)
    binary = chromium()
    if binary is None:
        print("chromium is not installed (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    html = html_of(args.file)
    if re.search(r"<script\b", html, re.I):
        print("FAIL: the email HTML contains a <script> tag")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    ok_all = True
    with tempfile.TemporaryDirectory(prefix="email-check-") as tmp:
        page = Path(tmp) / "email.html"
        page.write_text(html, encoding="utf-8")
        browser = Browser(binary, Path(tmp) / "profile")
        try:
            for scheme in ("light", "dark") if args.dark else ("light",):
                for w in (int(x) for x in args.widths.split(",")):
                    ok, line = check(browser, page, w, args.out, scheme)
                    print(line)
                    ok_all &= ok
        finally:
            browser.close()
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
