"""Traffic, drift, labels and checks against a running server: `selfheal simulate ...`.

The Python replacement for the old shell scripts (generate_test_predictions.sh,
inject_drift.sh, health_check.sh, verify_setup.sh). Everything talks to the server over its
public JSON API with the standard library only (one keep-alive `http.client` connection), so
it works against any selfheal server, local or not.

Actions (`python -m selfheal simulate ACTION --help` for the options)::

    predict N     send N records like the production model's data, in batches
    drift TYPE    the same with covariate, population or concept drift (default 1,000 rows)
    labels        send the ground-truth labels that were held back earlier
    stats         a readable summary of GET /monitoring/stats
    health        a readable summary of GET /health and /model/info (exit 1 when unhealthy)
    verify        check the installation and say what is missing (exit 1 when something is)

Records
-------
`predict` and `drift` read the production model's schema from GET /model/info. For the
synthetic credit model (features age, income, credit_score, employment_years) the records
are the synthetic world's applicants (`selfheal.datasets.generate`), as always. For any other
model they are drawn by `selfheal.traffic.Population`: from the version's stored reference
sample when the registry under SELFHEAL_HOME holds that very version (same sha256 manifest;
the make targets run with the server's home), otherwise from the schema alone (training
ranges and levels, no labels: `--labels`, population and concept drift are then refused).
The drift types for any schema are described in `selfheal.traffic`.

Progress
--------
Progress goes to stderr (`StatusLine`): on a terminal one line rewritten in place, and only
once a run has lasted `StatusLine.delay` seconds; elsewhere (a pipe, a CI log) at most one
line every `StatusLine.every` seconds, none for a short run. The summary goes to stdout.

Labels
------
A label is the ground truth of one prediction; the synthetic world knows it when it draws the
applicant (`default`; under concept drift it comes from the changed ground truth), and a
reference row carries its own (flipped under concept drift). With
`--labels` it is sent right after the predictions (all of them, or `--label-fraction`).
Every label not sent then is kept, as a `{"prediction_id", "label", ...}` JSON line, in
`<SELFHEAL_HOME>/simulate/pending_labels.jsonl`; `simulate labels` sends them later (labels
arrive late in real life) and removes from the file every line the server settled (created,
unchanged, conflict, invalid). Lines the server does not know (`not_found`: another server or
a reset database) stay; delete the file to forget them.

Concept drift changes only the relationship between inputs and default, not the inputs, so
the monitor can see it only through labels: `drift concept` therefore sends its labels unless
`--no-labels` is given, and says so.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import importlib
import importlib.metadata
import json
import math
import os
import random
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

from selfheal.errors import ConfigError, SelfhealError

if TYPE_CHECKING:
    from selfheal.traffic import Population

try:  # POSIX; without it the pending-labels file is simply not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

DRIFT_TYPES = ("covariate", "population", "concept")
PENDING_FILE = Path("simulate") / "pending_labels.jsonl"
START_HINT = "start it with `make run` or `make start`"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Codes of errors in what the caller passed (exit 2), as opposed to failures (exit 1).
_USAGE_CODES = {
    "invalid_argument",
    "invalid_drift_type",
    "invalid_url",
    "invalid_setting",
    "no_reference",
}
# (import name, distribution, minimum version) -- the install_requires of setup.cfg.
RUNTIME_DEPENDENCIES = (
    ("sklearn", "scikit-learn", "1.3"),
    ("numpy", "numpy", "1.24"),
    ("pandas", "pandas", "2.0"),
    ("flask", "flask", "3.0"),
    ("waitress", "waitress", "3.0"),
    ("joblib", "joblib", "1.3"),
)

Progress = Callable[[str], None]


class SimulationError(SelfhealError):
    """The server could not be reached, or answered something other than what was asked."""

    code = "server_unreachable"
    http_status = 503


def _arg_error(message: str, code: str = "invalid_argument") -> SelfhealError:
    return SelfhealError(message, code=code)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


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


# -- the HTTP client -----------------------------------------------------------------------
class Client:
    """A JSON client over one keep-alive `http.client` connection.

    `get` and `post` return `(status, body)` for every HTTP answer, errors included; they
    raise `SimulationError` only when there is no usable answer: the server cannot be reached
    (code `server_unreachable`), does not answer within `timeout` seconds (`server_timeout`)
    or answers something that is not JSON (`bad_response`). A connection the server closed
    is reopened once, transparently.
    """

    def __init__(self, base_url: str, timeout: float = 10, token: str | None = None) -> None:
        raw = (base_url or "").strip()
        parts = urlsplit(raw)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
            raise SimulationError(
                f"invalid server URL {base_url!r}; expected e.g. http://127.0.0.1:8000",
                code="invalid_url",
            )
        if not timeout or timeout <= 0:
            raise _arg_error(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.base_url = f"{parts.scheme}://{parts.netloc}{self.prefix}"
        self.timeout = float(timeout)
        self.token = token or None
        self._conn: http.client.HTTPConnection | None = None

    # context manager + cleanup
    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post(self, path: str, payload: Any = None) -> tuple[int, Any]:
        return self.request("POST", path, payload)

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        self._conn = cls(self.host, self.port, timeout=self.timeout)
        return self._conn

    def unreachable(self, exc: BaseException) -> SimulationError:
        if isinstance(exc, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(exc, socket.gaierror):
            reason = f"unknown host {self.host!r}"
        elif isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError)):
            reason = "the server closed the connection"
        elif isinstance(exc, OSError) and exc.strerror:
            reason = exc.strerror.lower()
        else:
            reason = str(exc) or type(exc).__name__
        hint = "check the host in --url" if isinstance(exc, socket.gaierror) else START_HINT
        return SimulationError(
            _one_line(f"cannot reach {self.base_url}: {reason}; {hint}"),
            code="server_unreachable",
        )

    def request(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        if not path.startswith("/"):
            path = "/" + path
        body = None if payload is None else json.dumps(payload, allow_nan=False).encode()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in (1, 2):  # a stale keep-alive connection is reopened once
            reused = self._conn is not None
            conn = self._conn or self._connect()
            try:
                conn.request(method, self.prefix + path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except TimeoutError:
                self.close()
                raise SimulationError(
                    f"{self.base_url} did not answer {method} {path} within "
                    f"{self.timeout:g} s; it may be overloaded (retry with a longer --timeout)",
                    code="server_timeout",
                ) from None
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                ConnectionAbortedError,
                BrokenPipeError,
            ) as exc:
                self.close()
                if reused and attempt == 1:
                    continue
                raise self.unreachable(exc) from None
            except OSError as exc:
                self.close()
                raise self.unreachable(exc) from None
            except http.client.HTTPException as exc:
                self.close()
                raise SimulationError(
                    _one_line(f"{self.base_url} answered {method} {path} with broken HTTP: {exc}"),
                    code="bad_response",
                ) from None
            if resp.will_close:
                self.close()
            return resp.status, self._decode(method, path, resp.status, data)
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns

    def _decode(self, method: str, path: str, status: int, data: bytes) -> Any:
        try:
            return json.loads(data) if data else None
        except ValueError:
            start = data[:60].decode("utf-8", "replace")
            raise SimulationError(
                _one_line(
                    f"{self.base_url} answered {method} {path} with status {status} and a body "
                    f"that is not JSON ({start!r}...); is it a selfheal server?"
                ),
                code="bad_response",
            ) from None

    def expect(
        self, method: str, path: str, payload: Any = None, ok: Sequence[int] = (200,)
    ) -> Any:
        """`request`, raising `SimulationError` with the server's own message unless the status
        is in `ok`."""
        status, body = self.request(method, path, payload)
        if status not in ok:
            raise api_error(method, path, status, body)
        return body


def api_error(method: str, path: str, status: int, body: Any) -> SimulationError:
    """The server's error body as one readable `SimulationError` (code = the server's code)."""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        code = str(err.get("code") or "http_error")
        message = str(err.get("message") or "")
    else:
        code, message = "http_error", str(body)[:200]
    return SimulationError(
        _one_line(f"{method} {path} answered {status} {code}: {message}"), code=code
    )


# -- traffic ---------------------------------------------------------------------------------
def _check_drift(drift: str | None) -> None:
    if drift is not None and drift not in DRIFT_TYPES:
        raise _arg_error(
            f"unknown drift type {drift!r}; use one of {', '.join(DRIFT_TYPES)}",
            code="invalid_drift_type",
        )


def make_records(n: int, *, seed: int = 0, drift: str | None = None) -> list[dict[str, Any]]:
    """`n` applicants from the synthetic world as JSON-ready dicts with their `default`."""
    from selfheal.datasets import FEATURES, TARGET, generate

    frame = generate(n, seed=seed, drift=drift)
    cols = [frame[c].to_numpy(float) for c in FEATURES]
    target = frame[TARGET].to_numpy()
    return [
        {
            **{f: float(col[i]) for f, col in zip(FEATURES, cols, strict=True)},
            TARGET: int(target[i]),
        }
        for i in range(n)
    ]


def production_traffic(client: Client, registry: Path | str | None = None) -> Population | None:
    """What the production model's traffic looks like: None for the synthetic credit model
    (whose records `make_records` draws) or when GET /model/info gives no schema (the
    predictions then fail with the server's own error); otherwise a `Population`.

    The population is the version's stored reference sample when `registry` (a registry
    folder, e.g. `<SELFHEAL_HOME>/registry`) holds the served version with the same sha256
    manifest, else the schema alone (its `source` says why). Nothing is written."""
    from selfheal.datasets import FEATURES, TARGET
    from selfheal.schema import FeatureSchema
    from selfheal.traffic import Population

    status, info = client.get("/model/info")
    if status != 200 or not isinstance(info, dict) or not isinstance(info.get("schema"), dict):
        return None
    try:
        schema = FeatureSchema.from_dict(info["schema"], where="GET /model/info")
    except SelfhealError as exc:
        raise SimulationError(
            _one_line(f"GET /model/info answered a schema this client cannot read: {exc}"),
            code="bad_response",
        ) from None
    if schema.names == list(FEATURES) and schema.target == TARGET:
        return None
    version = str(info.get("version") or "the production model")
    why = "no registry given"
    if registry is not None:
        root = Path(registry)
        try:
            if not (root / version / "meta.json").is_file():
                why = f"the registry {root} does not hold {version}"
            else:
                from selfheal.registry import Registry

                reg = Registry(root)  # the folder exists: nothing is created
                if reg.meta(version).get("sha256") != info.get("sha256"):
                    why = f"{version} in the registry {root} is not the served one"
                else:
                    frame, _ = reg.reference(version)
                    return Population.from_reference(schema, frame, version=version)
        except (SelfhealError, OSError, KeyError, ValueError) as exc:
            why = f"its reference sample cannot be read ({_one_line(str(exc))[:120]})"
    population = Population.from_schema(schema, version=version)
    return dataclasses.replace(population, source=f"{population.source}: {why}")


def pending_path(home: Path | str) -> Path:
    """Where held-back labels wait: `<home>/simulate/pending_labels.jsonl`."""
    return Path(home) / PENDING_FILE


@contextlib.contextmanager
def _pending_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / ".pending.lock").open("a+") as fh:
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _append_pending(path: Path, entries: list[dict[str, Any]]) -> None:
    if not entries:
        return
    text = "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries)
    with _pending_lock(path), path.open("a", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _post_labels(
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


def generate_predictions(
    client: Client,
    n: int,
    *,
    seed: int = 0,
    drift: str | None = None,
    labels: bool | None = False,
    label_fraction: float = 1.0,
    batch: int = 50,
    progress: Progress | None = None,
    home: Path | str | None = None,
    population: Population | None = None,
) -> dict[str, Any]:
    """Send `n` records to POST /predict in batches of `batch`: the synthetic credit
    applicants, or draws from `population` (see `production_traffic`) for any other model.

    `labels=True` then sends the ground truth of `label_fraction` of the answered
    predictions (chosen with `seed`); `labels=None` means "only for concept drift", and
    concept drift gets its labels unless `labels=False` (a note says which). With `home`,
    every label not sent now is kept in `pending_path(home)` for `send_labels`.

    `progress` receives ready-made lines (`StatusLine` writes them to stderr): one about
    every 10% or 50 records, whichever is more, plus notes; None is silent. A batch
    answered 503 overloaded is retried twice; three failed batches in a row stop the run. A
    label batch that fails is an error in the result, and its labels wait in the pending
    file (with `home`), as do the answered ones when the server goes away halfway (the
    `SimulationError` propagates).
    Returns the counts: sent, ok, failed, labeled, pending_labels, versions ({version:
    rows}), mean_probability, positive_rate, out_of_range, elapsed, errors (the first few
    messages; empty when all went well), notes, source (the population's, or None).

    A population without labels (drawn from the schema alone) refuses `labels=True` and
    the drift types that need labels (population, concept) with code `no_reference`.
    """
    _check_drift(drift)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise _arg_error(f"the number of predictions must be a positive integer, got {n!r}")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 1000:
        raise _arg_error(f"batch must be an integer from 1 to 1000, got {batch!r}")
    if not 0.0 <= float(label_fraction) <= 1.0:
        raise _arg_error(f"label fraction must be from 0 to 1, got {label_fraction!r}")
    say: Progress = progress or (lambda line: None)
    notes: list[str] = []
    if drift == "concept" and labels is None:
        labels = True
        notes.append(
            "concept drift: sending the ground-truth labels too (they come from the changed "
            "ground truth, and labels are the only way to see a concept change; "
            "--no-labels holds them back)"
        )
    elif drift == "concept" and labels is False:
        notes.append(
            "concept drift without labels: the inputs do not move, so the change shows only "
            "once the labels arrive (`selfheal simulate labels`)"
        )
    truth: list[int] | None
    if population is None:
        from selfheal.datasets import TARGET

        drawn = make_records(n, seed=seed, drift=drift)
        records = [{k: v for k, v in r.items() if k != TARGET} for r in drawn]
        truth = [int(r[TARGET]) for r in drawn]
    else:
        if population.labels is None and (labels or drift in ("population", "concept")):
            what = f"{drift} drift" if drift in ("population", "concept") else "--labels"
            raise _arg_error(
                f"{what} needs the labels of the production model's reference sample, and "
                f"this client has only {population.source}; run it with the server's "
                "SELFHEAL_HOME (as the make targets do), or use no drift or covariate drift "
                "without --labels",
                code="no_reference",
            )
        records, truth = population.draw(n, seed=seed, drift=drift)
        if truth is None:
            notes.append("records drawn from the schema carry no labels: none are kept")
    send_now = bool(labels)
    for note in notes:
        say("  note: " + note)

    t0 = time.monotonic()
    step = max(50, math.ceil(n / 10))
    next_mark = step
    sent = ok = failed = consecutive = oor = positives = 0
    prob_sum = 0.0
    versions: dict[str, int] = {}
    errors: list[str] = []
    answered: list[tuple[str, int]] = []  # (prediction_id, ground-truth label)
    stopped = False

    def keep_for_later(pairs: list[tuple[str, int]]) -> int:
        if home is None or not pairs:
            return 0
        _append_pending(
            pending_path(home),
            [
                {
                    "prediction_id": pid,
                    "label": y,
                    "drift": drift,
                    "seed": seed,
                    "url": client.base_url,
                }
                for pid, y in pairs
            ],
        )
        return len(pairs)

    try:
        for start in range(0, n, batch):
            chunk = records[start : start + batch]
            payload = {"instances": chunk}
            for attempt in range(3):  # bounded retry of an overloaded server
                status, body = client.post("/predict", payload)
                code = (body.get("error") or {}).get("code") if isinstance(body, dict) else None
                if status == 503 and code == "overloaded" and attempt < 2:
                    time.sleep(0.25 * (attempt + 1))
                    continue
                break
            sent += len(chunk)
            preds = body.get("predictions") if isinstance(body, dict) else None
            if status == 200 and isinstance(preds, list) and len(preds) == len(chunk):
                consecutive = 0
                ok += len(chunk)
                for i, p in enumerate(preds):
                    if truth is not None:
                        answered.append((str(p["prediction_id"]), truth[start + i]))
                    prob_sum += float(p["probability"])
                    positives += int(p["prediction"])
                    oor += bool(p.get("out_of_range"))
                    v = str(p.get("model_version") or body.get("model_version"))
                    versions[v] = versions.get(v, 0) + 1
            else:
                consecutive += 1
                failed += len(chunk)
                if len(errors) < 5:
                    errors.append(str(api_error("POST", "/predict", status, body)))
            done = start + len(chunk)
            if done >= next_mark or done == n:
                while next_mark <= done:
                    next_mark += step
                say(f"  {done}/{n} predictions ({100 * done // n}%), {time.monotonic() - t0:.1f} s")
            if consecutive >= 3 and done < n:
                stopped = True
                errors.append(
                    f"stopped after 3 failed batches in a row; {n - done} records not sent"
                )
                say("  " + errors[-1])
                break
    except (SimulationError, KeyboardInterrupt):
        keep_for_later(answered)  # the server went away: its answered labels are not lost
        raise

    # labels: send a fraction now, keep the rest for later
    labeled = 0
    to_send: list[tuple[str, int]] = []
    if send_now and answered:
        k = round(float(label_fraction) * len(answered))
        chosen = sorted(random.Random(seed).sample(range(len(answered)), k))
        to_send = [answered[i] for i in chosen]
    statuses: dict[str, str] = {}
    if to_send:
        try:
            _post_labels(client, to_send, batch, statuses)
        except SimulationError as exc:
            errors.append(f"labels not sent: {exc}")
        labeled = sum(1 for s in statuses.values() if s in ("created", "unchanged"))
        refused = sum(1 for s in statuses.values() if s not in ("created", "unchanged"))
        if refused:
            errors.append(f"{refused} of {len(to_send)} labels were refused")
    # every label the server has not settled waits in the pending file
    pending = keep_for_later([(pid, y) for pid, y in answered if pid not in statuses])
    return {
        "sent": sent,
        "ok": ok,
        "failed": failed,
        "labeled": labeled,
        "pending_labels": pending,
        "pending_path": str(pending_path(home)) if home is not None else None,
        "versions": versions,
        "mean_probability": prob_sum / ok if ok else None,
        "positive_rate": positives / ok if ok else None,
        "out_of_range": oor,
        "elapsed": time.monotonic() - t0,
        "drift": drift,
        "seed": seed,
        "labels": send_now,
        "stopped": stopped,
        "errors": errors,
        "notes": notes,
        "source": None if population is None else population.source,
    }


def inject_drift(
    client: Client,
    kind: str,
    n: int = 1000,
    seed: int = 1,
    labels: bool | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Send `n` records drifted by `kind` (covariate, population or concept).

    `labels=None`: concept drift sends its labels, the others do not. Other keyword
    arguments go to `generate_predictions`."""
    if kind not in DRIFT_TYPES:
        raise _arg_error(
            f"unknown drift type {kind!r}; use one of {', '.join(DRIFT_TYPES)}",
            code="invalid_drift_type",
        )
    return generate_predictions(client, n, seed=seed, drift=kind, labels=labels, **kwargs)


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
    with _pending_lock(path):
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
            _post_labels(client, unique, batch, statuses)
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
        _rewrite(path, kept)
    result["sent"] = len(unique)
    result["remaining"] = len(kept)
    return result


def _rewrite(path: Path, lines: list[str]) -> None:
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


def run_monitor(client: Client) -> dict[str, Any]:
    """POST /monitoring/run (needs the admin token); the cycle's summary."""
    status, body = client.post("/monitoring/run")
    if status == 200 and isinstance(body, dict):
        return body
    if status == 503 and isinstance(body, dict) and body.get("status") == "error":
        raise SimulationError(
            _one_line(f"the monitor cycle failed: {body.get('error')}"), code="monitor_failed"
        )
    raise api_error("POST", "/monitoring/run", status, body)


# -- summaries -------------------------------------------------------------------------------
def _num(v: Any, fmt: str = ".3f") -> str:
    return format(v, fmt) if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, (int, float)) else "-"


def format_result(r: dict[str, Any]) -> str:
    """A `generate_predictions` result as a few readable lines."""
    what = f"{r['drift']} drift" if r.get("drift") else "no drift"
    versions = ", ".join(f"{v} ({c})" for v, c in sorted(r["versions"].items())) or "-"
    lines = [
        f"sent {r['sent']} predictions ({what}, seed {r['seed']}) in {r['elapsed']:.1f} s: "
        f"{r['ok']} ok, {r['failed']} failed",
        *([f"  records: drawn from {r['source']}"] if r.get("source") else []),
        f"  model versions: {versions}",
        f"  mean probability {_num(r['mean_probability'])}, positive rate "
        f"{_pct(r['positive_rate'])}, out of range {r['out_of_range']} rows",
    ]
    label_line = f"  labels: {r['labeled']} sent now"
    if r.get("pending_labels"):
        label_line += (
            f"; {r['pending_labels']} kept in {r['pending_path']} "
            "(send them with `selfheal simulate labels`)"
        )
    lines.append(label_line)
    lines += [f"  note: {note}" for note in r.get("notes", [])]
    lines += [f"  error: {e}" for e in r.get("errors", [])]
    return "\n".join(lines)


def stats_summary(client: Client, window: int = 1000) -> str:
    """GET /monitoring/stats as readable lines: traffic, the window, live metrics, drift."""
    s = client.expect("GET", f"/monitoring/stats?window={int(window)}")
    c = s.get("counts") or {}
    w = s.get("window") or {}
    lines = [
        f"traffic:      {c.get('total', 0)} predictions (production {c.get('production', 0)}, "
        f"external {c.get('external', 0)}, shadow {c.get('shadow', 0)}), "
        f"{c.get('labels', 0)} labels",
    ]
    if w.get("rows"):
        lat = w.get("latency_ms") or {}
        lines += [
            f"window:       newest {w['rows']} production predictions (window {w.get('size')}), "
            f"{w.get('from', '?')[:19]} to {w.get('to', '?')[:19]}",
            f"  positive rate {_pct(w.get('positive_rate'))}, mean probability "
            f"{_num(w.get('mean_probability'))}, out of range {w.get('out_of_range_rows', 0)} "
            f"rows, labeled {w.get('labeled', 0)}",
            f"  latency p50 {_num(lat.get('p50'), '.1f')} ms, p99 {_num(lat.get('p99'), '.1f')} "
            f"ms; versions {', '.join(w.get('versions') or []) or '-'}",
        ]
    else:
        lines.append(f"window:       empty (window {w.get('size')}); send traffic first")
    live = s.get("live")
    if live:
        lines.append(
            f"live:         n {live.get('n')}  F1 {_num(live.get('f1'))}  precision "
            f"{_num(live.get('precision'))}  recall {_num(live.get('recall'))}  AUC "
            f"{_num(live.get('auc'))}  Brier {_num(live.get('brier'))}"
        )
    else:
        lines.append("live:         no labels in the window yet")
    d = s.get("drift")
    if d:
        lines.append(
            f"drift:        last cycle {str(d.get('created_at') or '?')[:19]}: "
            f"{d.get('status')}, drift share {_num(d.get('drift_share'), '.2f')}, "
            f"n {d.get('n_window')}, decision {d.get('decision')}"
        )
    else:
        lines.append("drift:        no monitor cycle yet")
    run = s.get("last_retrain")
    if run:
        lines.append(
            f"last retrain: #{run.get('id')} {run.get('status')} (trigger {run.get('trigger')}, "
            f"candidate {run.get('candidate_version') or '-'}, "
            f"{str(run.get('started_at') or '?')[:19]})"
        )
    else:
        lines.append("last retrain: none")
    return "\n".join(lines)


def health_summary(client: Client) -> tuple[bool, str]:
    """GET /health (+ /model/info) as (healthy, readable lines naming each component)."""
    status, h = client.get("/health")
    if status not in (200, 503) or not isinstance(h, dict) or "status" not in h:
        raise api_error("GET", "/health", status, h)
    healthy = status == 200 and h.get("status") == "ok"

    def mark(part: dict[str, Any] | None) -> str:
        return "ok  " if part and part.get("ok") else "FAIL"

    lines = [
        f"server:    {client.base_url}: {h.get('status')} (HTTP {status}), up "
        f"{_num(h.get('uptime_seconds'), '.1f')} s"
    ]
    m = h.get("model") or {}
    model_line = f"model:     {mark(m)} {m.get('version') or 'none'}"
    istatus, info = client.get("/model/info")
    if istatus == 200 and isinstance(info, dict):
        met = info.get("metrics") or {}
        model_line += (
            f", threshold {_num(info.get('threshold'), 'g')}, holdout F1 {_num(met.get('f1'))} "
            f"AUC {_num(met.get('auc'))}; promoted {str(info.get('promoted_at') or '-')[:19]} "
            f"by {info.get('promoted_by') or '-'}"
        )
    if m.get("error"):
        model_line += f"; error: {m['error']}"
    lines.append(model_line)
    db = h.get("database") or {}
    lines.append(
        f"database:  {mark(db)} "
        + (str(db.get("path")) if db.get("ok") else f"error: {db.get('error')}")
    )
    w = h.get("writer") or {}
    wline = (
        f"writer:    {mark(w)} {'alive' if w.get('alive') else 'NOT RUNNING'}, queue "
        f"{w.get('queue_depth')}, {w.get('batches')} batches, {w.get('rows')} rows, last "
        f"commit {_num(w.get('last_commit_ms'), '.1f')} ms"
    )
    if w.get("last_error"):
        wline += f"; last error: {w['last_error']}"
    lines.append(wline)
    mon = h.get("monitor") or {}
    mline = f"monitor:   {mark(mon)} " + (
        f"{'alive' if mon.get('alive') else 'not running'}, {mon.get('cycles')} cycles, "
        f"{mon.get('failures')} failures, last cycle {mon.get('last_cycle_at') or 'never'}"
    )
    if mon.get("interval_seconds") is not None:
        mline += f", every {_num(mon.get('interval_seconds'), 'g')} s"
    if mon.get("last_error"):
        mline += f"; last error: {mon['last_error']}"
    lines.append(mline)
    for k, part in h.items():  # components added later still get a line
        if (
            isinstance(part, dict)
            and "ok" in part
            and k
            not in (
                "model",
                "database",
                "writer",
                "monitor",
            )
        ):
            lines.append(f"{k + ':':<10} {mark(part)} {json.dumps(part, default=str)[:120]}")
    lines.append("healthy" if healthy else "UNHEALTHY: see the FAIL lines above")
    return healthy, "\n".join(lines)


def default_url(settings: Any) -> str:
    """http://SELFHEAL_HOST:SELFHEAL_PORT, with a wildcard bind address read as loopback."""
    host = str(settings.host)
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{settings.port}"


# -- installation check ------------------------------------------------------------------------
def _version_tuple(v: str) -> tuple[int, ...]:
    out: list[int] = []
    for part in v.split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def _line(state: str, text: str) -> str:
    return f"{state:<8} {text}"


def verify_installation(
    settings: Any, *, url: str | None = None, timeout: float = 3.0
) -> tuple[bool, list[str]]:
    """Check the installation; `ok` is False when a line says "missing".

    Lines start with ok, missing or warning and say what to do. Nothing is created or
    changed (the checks only read), and the server check is a warning, not a failure."""
    lines: list[str] = []
    py = sys.version_info
    pyv = f"{py.major}.{py.minor}.{py.micro}"
    if py >= (3, 10):
        lines.append(_line("ok", f"python {pyv} (3.10 or newer needed)"))
    else:  # pragma: no cover - the package itself needs 3.10
        lines.append(_line("missing", f"python {pyv} is too old; install Python 3.10 or newer"))
    for module, dist, minimum in RUNTIME_DEPENDENCIES:
        try:
            importlib.import_module(module)
        except Exception as exc:
            lines.append(
                _line(
                    "missing",
                    f"{dist}: cannot import {module} ({type(exc).__name__}: "
                    f"{_one_line(str(exc))[:100]}); run `make install`",
                )
            )
            continue
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        if version != "unknown" and _version_tuple(version) < _version_tuple(minimum):
            lines.append(
                _line(
                    "missing",
                    f"{dist} {version} is older than the required {minimum}; run `make install`",
                )
            )
        else:
            lines.append(_line("ok", f"{dist} {version} (>= {minimum})"))

    from selfheal import db

    n_migrations = 0
    try:
        n_migrations = len(db.migration_files())
        lines.append(_line("ok", f"migrations: {n_migrations} in {db.MIGRATIONS_DIR}"))
    except SelfhealError as exc:
        lines.append(_line("missing", f"migrations: {exc.message}"))

    home = Path(settings.home_path)
    if not home.is_dir():
        lines.append(
            _line(
                "missing",
                f"SELFHEAL_HOME {home} does not exist; run `make init` (or `make run`, which "
                "bootstraps it)",
            )
        )
    else:
        try:
            with tempfile.TemporaryFile(dir=home):
                pass
            lines.append(_line("ok", f"SELFHEAL_HOME {home} is writable"))
        except OSError as exc:
            lines.append(
                _line(
                    "missing",
                    f"SELFHEAL_HOME {home} is not writable ({exc.strerror}); fix its "
                    "permissions or point SELFHEAL_HOME elsewhere",
                )
            )

    db_path = Path(settings.db_path)
    if not db_path.is_file():
        lines.append(_line("missing", f"database {db_path} does not exist; run `make init`"))
    else:
        conn = None
        try:
            conn = db.connect(db_path, readonly=True)
            schema_v = db.schema_version(conn)
            if n_migrations and schema_v < n_migrations:
                lines.append(
                    _line(
                        "missing",
                        f"database {db_path} is at schema version {schema_v} of {n_migrations}; "
                        "run `make init` to migrate it",
                    )
                )
            elif n_migrations and schema_v > n_migrations:
                lines.append(
                    _line(
                        "missing",
                        f"database {db_path} has schema version {schema_v}, newer than this "
                        f"code knows ({n_migrations}); upgrade selfheal",
                    )
                )
            else:
                lines.append(_line("ok", f"database {db_path}: schema version {schema_v}"))
        except Exception as exc:
            msg = exc.message if isinstance(exc, SelfhealError) else str(exc)
            lines.append(_line("missing", f"database {db_path} cannot be read: {_one_line(msg)}"))
        finally:
            if conn is not None:
                conn.close()

    reg_path = Path(settings.registry_path)
    if not reg_path.is_dir():
        lines.append(_line("missing", f"model registry {reg_path} does not exist; run `make init`"))
    else:
        try:
            from selfheal.registry import Registry

            registry = Registry(reg_path)
            prod = registry.production()
            if prod is None:
                lines.append(
                    _line(
                        "missing",
                        "no model in production; run `make init` (or `selfheal promote VERSION`)",
                    )
                )
            else:
                meta = registry.verify(prod)
                sk = (meta.get("libraries") or {}).get("scikit-learn", "?")
                lines.append(
                    _line(
                        "ok",
                        f"model {prod} in production; artifact sha256 verified (scikit-learn {sk})",
                    )
                )
        except SelfhealError as exc:
            lines.append(_line("missing", f"production model: {_one_line(exc.message)}"))

    base = url or default_url(settings)
    try:
        with Client(base, timeout=timeout) as client:
            status, body = client.get("/health")
        if status == 200:
            served = (body.get("model") or {}).get("version") if isinstance(body, dict) else None
            lines.append(_line("ok", f"server answers on {base} (model {served or '-'})"))
        else:
            bad = (
                [k for k, v in body.items() if isinstance(v, dict) and v.get("ok") is False]
                if isinstance(body, dict)
                else []
            )
            lines.append(
                _line(
                    "warning",
                    f"server on {base} answers /health with {status}"
                    + (f" ({', '.join(bad)} failing)" if bad else "")
                    + "; see `selfheal simulate health`",
                )
            )
    except SelfhealError as exc:
        lines.append(_line("warning", f"server not running: {_one_line(exc.message)}"))

    if settings.admin_token:
        lines.append(_line("ok", "SELFHEAL_ADMIN_TOKEN is set"))
    else:
        lines.append(
            _line(
                "warning",
                "SELFHEAL_ADMIN_TOKEN is empty: admin routes (monitoring run, promote, "
                "rollback) answer 403; set it in .env",
            )
        )
    ok = not any(line.startswith("missing") for line in lines)
    return ok, lines


# -- command line ------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(
            f"selfheal: error: {_one_line(message)} (see 'selfheal simulate --help')\n"
        )
        raise SystemExit(EXIT_USAGE)


# The range of every integer option: an unbounded N reached numpy as "Maximum allowed
# dimension exceeded" (every record is built in memory before it is sent).
MAX_RECORDS = 1_000_000
MAX_SEED = 2**32 - 1  # numpy's random seed range, as SELFHEAL_SEED


def _int_range(low: int, high: int) -> Callable[[str], int]:
    """An argparse `type`: an integer from `low` to `high`, else an error naming both."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected an integer from {low} to {high}, got {text!r}"
            )
        return value

    return parse


_records = _int_range(1, MAX_RECORDS)
_seed = _int_range(0, MAX_SEED)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


_batch = _int_range(1, 1000)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to 3600, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument(
        "--url", help="server base URL (default: http://SELFHEAL_HOST:SELFHEAL_PORT)"
    )
    common.add_argument(
        "--timeout", type=_seconds, default=10.0, help="seconds to wait for each answer"
    )
    common.add_argument("--quiet", "-q", action="store_true", help="no progress lines")

    p = _Parser(
        prog="selfheal simulate",
        description="Send synthetic traffic, drift and labels to a running server; "
        "summarise its stats and health; check the installation.",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    sub.required = True

    pr = sub.add_parser("predict", parents=[common], help="send N synthetic predictions")
    pr.add_argument("n", type=_records, metavar="N", help=f"number of records, 1 to {MAX_RECORDS}")
    pr.add_argument("--seed", type=_seed, default=0, help=f"data seed, 0 to {MAX_SEED} (default 0)")
    pr.add_argument("--drift", metavar="TYPE", help="covariate, population or concept")
    pr.add_argument(
        "--labels",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="send the ground-truth labels now (default: only for concept drift); the "
        "others are kept for `simulate labels`",
    )
    pr.add_argument(
        "--label-fraction",
        type=_fraction,
        help="share labeled now, 0 to 1 (implies --labels; default 1)",
    )
    pr.add_argument("--batch", type=_batch, default=50, help="records per request (1 to 1000)")

    dr = sub.add_parser("drift", parents=[common], help="send drifted traffic")
    dr.add_argument("kind", metavar="TYPE", help="covariate, population or concept")
    dr.add_argument(
        "--n", type=_records, default=1000, help=f"records, 1 to {MAX_RECORDS} (default 1000)"
    )
    dr.add_argument("--seed", type=_seed, default=1, help=f"data seed, 0 to {MAX_SEED} (default 1)")
    dr.add_argument(
        "--labels",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="send the labels now (default: yes for concept, no otherwise)",
    )
    dr.add_argument(
        "--label-fraction",
        type=_fraction,
        help="share labeled now, 0 to 1 (implies --labels; default 1)",
    )
    dr.add_argument("--batch", type=_batch, default=50, help="records per request (1 to 1000)")
    dr.add_argument(
        "--run-monitor",
        action="store_true",
        help="then run one monitor cycle (needs SELFHEAL_ADMIN_TOKEN) and print its verdict",
    )

    lb = sub.add_parser("labels", parents=[common], help="send the labels kept for later")
    lb.add_argument(
        "--limit",
        type=_int_range(1, 100_000_000),
        help="send at most this many, 1 to 100000000 (default: all)",
    )

    st = sub.add_parser("stats", parents=[common], help="summarise /monitoring/stats")
    st.add_argument(
        "--window",
        type=_int_range(1, 1_000_000),
        default=1000,
        help="newest predictions, 1 to 1000000 (default 1000)",
    )
    sub.add_parser("health", parents=[common], help="summarise /health; exit 1 if unhealthy")
    sub.add_parser("verify", parents=[common], help="check the installation; exit 1 if not ok")
    return p


def _print(text: str, out: IO[str] | None = None) -> None:
    (out or sys.stdout).write(text + "\n")


def run(args: argparse.Namespace, settings: Any) -> int:
    url = args.url or default_url(settings)
    if args.action == "verify":
        ok, lines = verify_installation(settings, url=url, timeout=min(args.timeout, 5.0))
        for line in lines:
            _print(line)
        _print("installation ok" if ok else "installation incomplete: see the missing lines")
        return EXIT_OK if ok else EXIT_FAILED
    with Client(url, timeout=args.timeout, token=settings.admin_token or None) as client:
        if args.action in ("predict", "drift"):
            labels = args.labels
            if labels is None and args.label_fraction is not None:
                labels = True
            _check_drift(args.drift if args.action == "predict" else args.kind)
            progress = None if args.quiet else StatusLine(sys.stderr)
            common = {
                "labels": labels,
                "label_fraction": 1.0 if args.label_fraction is None else args.label_fraction,
                "batch": args.batch,
                "progress": progress,
                "home": settings.home_path,
                "population": production_traffic(client, settings.registry_path),
            }
            try:
                if args.action == "predict":
                    r = generate_predictions(
                        client, args.n, seed=args.seed, drift=args.drift, **common
                    )
                else:
                    r = inject_drift(client, args.kind, n=args.n, seed=args.seed, **common)
            except BaseException:
                if progress is not None:
                    progress.close(keep=True)
                raise
            if progress is not None:
                progress.close()
            _print(format_result(r))
            if r["failed"]:
                raise SimulationError(
                    f"{r['failed']} of {r['sent']} predictions failed: {r['errors'][0]}",
                    code="predictions_failed",
                )
            if r["errors"]:
                raise SimulationError(r["errors"][0], code="labels_failed")
            if args.action == "drift" and args.run_monitor:
                s = run_monitor(client)
                _print(
                    f"monitor cycle: {s.get('status')}, drift share "
                    f"{_num(s.get('drift_share'), '.2f')}, n {s.get('n_window')}, "
                    f"decision {s.get('decision')}"
                )
            return EXIT_OK
        if args.action == "labels":
            r = send_labels(client, settings.home_path, limit=args.limit)
            if not r["sent"] and not r["counts"]:
                _print(f"no pending labels in {r['path']}")
                return EXIT_OK
            counts = ", ".join(f"{v} {k}" for k, v in sorted(r["counts"].items())) or "none"
            _print(f"sent {r['sent']} labels: {counts}; {r['remaining']} left in {r['path']}")
            if r["counts"].get("not_found"):
                _print(
                    f"  {r['counts']['not_found']} not found on {client.base_url} (another "
                    f"server or a reset database): kept; delete {r['path']} to forget them"
                )
            return EXIT_OK
        if args.action == "stats":
            _print(stats_summary(client, window=args.window))
            return EXIT_OK
        if args.action == "health":
            ok, text = health_summary(client)
            _print(text)
            return EXIT_OK if ok else EXIT_FAILED
    raise AssertionError(f"unhandled action {args.action}")  # pragma: no cover


def main(argv: Sequence[str] | None = None) -> int:
    """`selfheal simulate ACTION ...`: 0 ok, 1 failed or unhealthy, 2 bad arguments."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        from selfheal.config import Settings

        settings = Settings.load()
        return run(args, settings)
    except SelfhealError as exc:
        _fail(exc.message)
        usage = isinstance(exc, ConfigError) or exc.code in _USAGE_CODES
        return EXIT_USAGE if usage else EXIT_FAILED
    except KeyboardInterrupt:
        sys.stderr.write("selfheal: interrupted\n")
        return 130
    except OSError as exc:
        _fail(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        return EXIT_FAILED
    except Exception as exc:  # never a traceback on the command line
        _fail(f"unexpected {type(exc).__name__}: {exc}; please report it")
        return EXIT_FAILED


def _fail(message: str) -> None:
    sys.stderr.write(f"selfheal: error: {_one_line(message)}\n")


if __name__ == "__main__":
    sys.exit(main())
