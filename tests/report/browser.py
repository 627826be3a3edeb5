"""Headless Chromium for report tests, driven with --dump-dom (no WebDriver, no download).

The page's own script writes what a test needs into attributes of <html> (data-ready, data-math-elements,
data-script-errors, data-load-ms); the browser's console (via --enable-logging=stderr) shows uncaught errors and
Content-Security-Policy refusals.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser

from hang_guard import HANG_GUARD

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--enable-logging=stderr", "--v=0"]


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class _Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.root: dict[str, str] = {}
        self.tags: dict[str, int] = {}
        self.handlers: list[tuple[str, str, str]] = []  # (tag, attribute, value) of on* attributes
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "html" and not self.root:
            self.root = {k: v or "" for k, v in attrs}
        for k, v in attrs:
            if k.startswith("on"):
                self.handlers.append((tag, k, v or ""))
            if k in ("href", "src", "action", "formaction"):
                self.hrefs.append(v or "")


@dataclass
class Page:
    dom: str
    console: list[str] = field(default_factory=list)
    root: dict = field(default_factory=dict)
    tags: dict = field(default_factory=dict)
    handlers: list = field(default_factory=list)
    hrefs: list = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [line for line in self.console if "Uncaught" in line or "Refused to" in line]


def open_page(url: str, timeout: float = HANG_GUARD) -> Page:
    exe = chromium()
    if exe is None:
        raise RuntimeError("no chromium on PATH")
    with tempfile.TemporaryDirectory(prefix="proofloop-chromium-") as profile:
        proc = subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url], capture_output=True,
                              text=True, timeout=timeout)
    dom = _Dom()
    dom.feed(proc.stdout)
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return Page(proc.stdout, console, dom.root, dom.tags, dom.handlers, dom.hrefs)
