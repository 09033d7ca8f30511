"""The pending-labels file: ground truth held back by `selfheal simulate`, sent later.

One `{"prediction_id", "label", ...}` JSON line per label in
`<SELFHEAL_HOME>/simulate/pending_labels.jsonl`. Writers append under an exclusive `flock`
(POSIX; elsewhere the file is simply not locked) and the file is rewritten atomically
(a temporary file, fsync, `os.replace`).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

try:  # POSIX; without it the pending-labels file is simply not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

PENDING_FILE = Path("simulate") / "pending_labels.jsonl"


def pending_path(home: Path | str) -> Path:
    """Where held-back labels wait: `<home>/simulate/pending_labels.jsonl`."""
    return Path(home) / PENDING_FILE


@contextlib.contextmanager
def pending_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / ".pending.lock").open("a+") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def append_pending(path: Path, entries: list[dict[str, Any]]) -> None:
    if not entries:
        return
    text = "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries)
    with pending_lock(path), path.open("a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def rewrite_pending(path: Path, lines: list[str]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".pending.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in lines))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
