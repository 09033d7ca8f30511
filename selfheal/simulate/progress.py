"""Progress lines of `selfheal simulate`: a sink that stays out of the way (`StatusLine`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO

Progress = Callable[[str], None]


class StatusLine:
    """A progress sink that stays out of the way: call it with each progress line.

    On a terminal (`stream.isatty()`) the line is rewritten in place with a carriage
    return, once the run has lasted `delay` seconds; a shorter run shows nothing. Elsewhere
    (a pipe, a CI log) a line is written only after `every` seconds and then at most once
    every `every` seconds. `close()` ends the line in place: erased (the summary follows),
    or kept with `keep=True` (when the run failed, so the error follows the last count).
    `clock` gives the time in seconds (`time.monotonic`; tests pass their own)."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        delay: float = 1.5,
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        try:
            self.tty = bool(self.stream.isatty())
        except (AttributeError, ValueError):  # no isatty, or a closed stream
            self.tty = False
        self.delay = delay
        self.every = every
        self.clock = clock
        self.started = clock()
        self.written: float | None = None  # when the last line was written (not a terminal)
        self.width = 0  # characters of the line drawn in place (a terminal); 0: none

    def __call__(self, line: str) -> None:
        now = self.clock()
        if self.tty:
            if now - self.started < self.delay:
                return
            text = line.strip()
            self.stream.write("\r" + text + " " * max(0, self.width - len(text)))
            self.width = len(text)
        else:
            since = now - (self.started if self.written is None else self.written)
            if since < self.every:
                return
            self.stream.write(line + "\n")
            self.written = now
        self.stream.flush()

    def close(self, *, keep: bool = False) -> None:
        if self.width:
            self.stream.write("\n" if keep else "\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0
