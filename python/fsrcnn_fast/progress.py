"""A progress bar for long jobs (a folder, a video, a big image), shown only on a terminal.

tqdm draws it when installed (``pip install 'fsrcnn_fast[cli]'``); otherwise a minimal bar of
our own with the same facts (count, rate, ETA). Off when stderr is not a terminal or when quiet.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

__all__ = ["Progress"]


class Progress:
    """``with Progress(total, "images") as bar: ... bar.update()``; ``bar.stage("writing")`` names
    the current step. ``total=None`` counts without an ETA. Thread-safe. ``enabled=None`` means
    "when ``stream`` (default stderr) is a terminal"."""

    def __init__(self, total: int | None, unit: str = "it", desc: str = "", *, enabled: bool | None = None,
                 stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.total, self.unit, self.desc = total, unit, desc
        self.n = 0
        self._lock = threading.Lock()
        self._start = time.perf_counter()
        self._last_draw = 0.0
        self._bar: Any = None
        if not enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            self._bar = tqdm(total=total, unit=unit, desc=desc, file=self.stream, dynamic_ncols=True, leave=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        if not self.enabled:
            return
        with self._lock:
            self.n += n
            if self._bar is not None:
                self._bar.update(n)
            else:
                self._draw()

    def set_total(self, total: int | None) -> None:
        """The total once known (a video container may say it only after opening)."""
        with self._lock:
            self.total = total
            if self._bar is not None:
                self._bar.total = total
                self._bar.refresh()

    def stage(self, text: str) -> None:
        """Names what is happening now (shown beside the bar)."""
        if not self.enabled:
            return
        with self._lock:
            if self._bar is not None:
                self._bar.set_postfix_str(text)
            else:
                self.desc_stage = text
                self._draw(force=True)

    def close(self) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            elif self.enabled:
                self._draw(force=True)
                self.stream.write("\n")
                self.stream.flush()
            self.enabled = False

    def _draw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_draw < 0.1 and (self.total is None or self.n < self.total):
            return
        self._last_draw = now
        elapsed = now - self._start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        text = f"{self.desc}: " if self.desc else ""
        if self.total:
            frac = min(1.0, self.n / self.total)
            filled = int(round(24 * frac))
            eta = (self.total - self.n) / rate if rate > 0 else float("nan")
            text += f"{frac * 100:3.0f}%|{'#' * filled}{' ' * (24 - filled)}| {self.n}/{self.total}"
            text += f" [{elapsed:.0f}s<{eta:.0f}s, {rate:.2f} {self.unit}/s]" if rate > 0 else f" [{elapsed:.0f}s]"
        else:
            text += f"{self.n} {self.unit} [{elapsed:.0f}s, {rate:.2f} {self.unit}/s]"
        stage = getattr(self, "desc_stage", "")
        if stage:
            text += f" {stage}"
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()
