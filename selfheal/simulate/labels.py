"""Labels sent by `selfheal simulate`: POST /monitoring/labels in batches, and the labels
kept in the pending file (`selfheal.simulate.pending`) sent later (`simulate labels`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selfheal.simulate.client import Client, SimulationError, _arg_error
from selfheal.simulate.pending import pending_lock, pending_path, rewrite_pending


def post_labels(
    client: Client, pairs: list[tuple[str, int]], batch: int, statuses: dict[str, str]
) -> dict[str, str]:
    """POST the labels in batches; fills `statuses` (kept on an error halfway) with the
    status the server gave each prediction id."""
    for start in range(0, len(pairs), batch):
        chunk = pairs[start : start + batch]
        payload = {"labels": [{"prediction_id": p, "label": y} for p, y in chunk]}
        body = client.expect("POST", "/monitoring/labels", payload)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or len(results) != len(chunk):
            raise SimulationError(
                "POST /monitoring/labels answered without one result per label",
                code="bad_response",
            )
        for (pid, _), r in zip(chunk, results, strict=True):
            statuses[pid] = str(r.get("status")) if isinstance(r, dict) else "invalid"
    return statuses


def send_labels(
    client: Client, home: Path | str, limit: int | None = None, *, batch: int = 500
) -> dict[str, Any]:
    """Send the labels kept in `pending_path(home)` (oldest first, at most `limit`).

    Lines the server settled (created, unchanged, conflict, invalid) and unreadable lines
    leave the file; `not_found` ones and those beyond `limit` stay. Returns the counts per
    status, plus sent, remaining and path."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise _arg_error(f"limit must be a positive integer, got {limit!r}")
    path = pending_path(home)
    counts: dict[str, int] = {}
    result: dict[str, Any] = {"path": str(path), "sent": 0, "counts": counts, "remaining": 0}
    if not path.exists():
        return result
    with pending_lock(path):
        lines = path.read_text(encoding="utf-8").splitlines()
        entries: list[tuple[str, dict[str, Any] | None]] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                e = json.loads(line)
                ok = (
                    isinstance(e, dict)
                    and isinstance(e.get("prediction_id"), str)
                    and e.get("label") in (0, 1)
                )
            except ValueError:
                ok = False
            entries.append((line, e if ok else None))
        bad = sum(1 for _, e in entries if e is None)
        if bad:
            counts["unreadable"] = bad
        good = [(line, e) for line, e in entries if e is not None]
        chosen = good if limit is None else good[:limit]
        pairs = [(str(e["prediction_id"]), int(e["label"])) for _, e in chosen]
        # a prediction id twice in the file is sent once
        unique = list(dict.fromkeys(pairs))
        statuses: dict[str, str] = {}
        if unique:
            post_labels(client, unique, batch, statuses)
        for s in statuses.values():
            counts[s] = counts.get(s, 0) + 1
        kept = [
            line
            for line, e in good
            if e is not None
            and (
                statuses.get(str(e["prediction_id"])) == "not_found"
                or str(e["prediction_id"]) not in statuses
            )
        ]
        rewrite_pending(path, kept)
    result["sent"] = len(unique)
    result["remaining"] = len(kept)
    return result
