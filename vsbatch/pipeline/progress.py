"""Progress of a pass over many tasks, for whoever watches a long run."""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("vsbatch")


class Progress:
    """A bar with ETA on a terminal, plain log lines otherwise."""

    def __init__(self, what: str, total: int) -> None:
        self.what, self.total, self.done = what, total, 0
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.last_log = 0.0

    def step(self) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        if self.tty:
            filled = int(30 * self.done / max(self.total, 1))
            bar = "#" * filled + "." * (30 - filled)
            end = "\n" if self.done == self.total else ""
            sys.stderr.write(
                f"\r{self.what} [{bar}] {self.done}/{self.total} "
                f"{elapsed:6.1f} s, ETA {eta:6.1f} s{end}"
            )
            sys.stderr.flush()
        elif self.done == self.total or elapsed - self.last_log >= 5:
            self.last_log = elapsed
            log.info(
                "%s: %d/%d done, %.1f s, ETA %.1f s",
                self.what,
                self.done,
                self.total,
                elapsed,
                eta,
            )
