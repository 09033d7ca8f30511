"""File-based model registry.

Layout under the registry root::

    v0001/model.joblib      the fitted Pipeline (joblib)
    v0001/meta.json         manifest: sha256 of every file, metrics, schema, params, lineage,
                            training-data fingerprint, library versions, status, gate results
    v0001/reference.npz     up to 5,000 training rows (+ target) and out-of-sample scores
    v0001/sketch.npz        the drift reference sketch (selfheal.drift)
    production.json         pointer {version, previous, promoted_at, reason, actor, history}
    .lock                   flock(2) lock serialising allocation and pointer changes

Versions are write-once: a version folder is assembled under a temporary name and renamed
into place while the lock is held, and its files are made read-only. The pointer is replaced
atomically (temp file, fsync, os.replace, fsync of the folder). Loading checks every sha256
and the scikit-learn version before `joblib.load` touches the file.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import platform
import re
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn

from selfheal.db import iso
from selfheal.errors import IntegrityError, InvalidVersionError, NotFoundError, RegistryError, cli
from selfheal.schema import FeatureSchema

log = logging.getLogger("selfheal.registry")

VERSION_RE = re.compile(r"^v([0-9]{4,31})$")  # ASCII digits, short enough for a path
STATUSES = ("production", "candidate", "archived", "rejected")
EventSink = Callable[[dict[str, Any]], None]
CACHE_SIZE = 4  # loaded models kept per process


def check_version_name(name: str) -> str:
    """A version name from outside must look like v0001: never a path."""
    if not isinstance(name, str) or not VERSION_RE.fullmatch(name):
        raise InvalidVersionError(
            f"invalid version name {name!r}: versions look like v0001 (v and 4 to 31 digits)"
        )
    return name


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
    }


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_json(path: Path, data: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


# -- reference sample storage (npz without pickle) ---------------------------------------
def save_reference(
    path: Path, frame: pd.DataFrame, scores: np.ndarray, schema: FeatureSchema
) -> None:
    arrays: dict[str, np.ndarray] = {
        "columns": np.array(list(frame.columns), dtype=str),
        "scores": np.asarray(scores, dtype=np.float64),
    }
    cat = set(schema.categorical)
    for i, c in enumerate(frame.columns):
        col = frame[c]
        if c in cat:
            null = col.isna().to_numpy()
            arrays[f"c{i}"] = np.array(
                ["" if n else str(v) for v, n in zip(col, null, strict=True)], dtype=str
            )
            arrays[f"n{i}"] = null
        else:
            arrays[f"c{i}"] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    with path.open("wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]


def load_reference(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        columns = [str(c) for c in z["columns"]]
        data: dict[str, Any] = {}
        for i, c in enumerate(columns):
            values = z[f"c{i}"]
            if f"n{i}" in z.files:
                null = z[f"n{i}"]
                obj = values.astype(object)
                obj[null] = None
                data[c] = obj
            else:
                data[c] = values
        return pd.DataFrame(data, columns=columns), np.asarray(z["scores"])


@dataclass(frozen=True)
class LoadedModel:
    """An immutable serving handle: swapping models replaces the whole object."""

    version: str
    pipeline: Any
    schema: FeatureSchema
    threshold: float
    meta: dict[str, Any]
    # selfheal.compiled's form of `pipeline`, verified bit for bit on the version's reference
    # sample (`Registry.serving`); None: scikit-learn scores.
    compiled: Any = field(default=None, compare=False, repr=False)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(class 1) per row of the raw matrix `X` (`FeatureSchema.to_matrix`)."""
        if self.compiled is not None:
            return self.compiled.predict_proba(X)
        return np.asarray(self.pipeline.predict_proba(X)[:, 1], dtype=np.float64)

    @property
    def scoring(self) -> str:
        """'compiled' or 'scikit-learn': what scores this model's requests."""
        return "compiled" if self.compiled is not None else "scikit-learn"


def _check_sample(X: np.ndarray) -> np.ndarray:
    """The reference rows, the same with a fifth of the numeric values missing, and with
    numeric values scaled to extremes: every side of every split and the imputer's path."""
    rng = np.random.default_rng(0)
    parts = [X]
    numeric = [j for j in range(X.shape[1]) if X.dtype != object or _numeric_column(X[:, j])]
    if numeric:
        holes = X.copy()
        mask = rng.random((len(X), len(numeric))) < 0.2
        for k, j in enumerate(numeric):
            holes[mask[:, k], j] = np.nan
        wide = X.copy()
        for j in numeric:
            col = np.asarray(X[:, j], dtype=np.float64)
            wide[:, j] = col * rng.choice([1e-9, -1.0, 1e9], size=len(col))
        parts += [holes, wide]
    return np.concatenate(parts)


def _numeric_column(col: np.ndarray) -> bool:
    return all(isinstance(v, float) for v in col[:50])


@contextmanager
def _flocked(path: Path) -> Iterator[None]:
    """An exclusive flock(2) on `path`, waited for, held for the block."""
    with path.open("a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class FileCoordination:
    """Where a registry on one host keeps its pointers and its lock: `production.json` and
    `shadow.json` in the registry folder, replaced atomically (`atomic_write_json`), and an
    flock(2) on `.lock` for version allocation and pointer changes."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def where(self, name: str) -> str:
        return str(self.root / f"{name}.json")

    def locked(self) -> AbstractContextManager[None]:
        return _flocked(self.root / ".lock")

    def bootstrapping(self) -> AbstractContextManager[None]:
        """Held while a process trains the first model, so that processes starting together
        on an empty registry bootstrap it once (`bootstrap.first_model`)."""
        return _flocked(self.root / ".bootstrap.lock")

    @contextmanager
    def retrain_slot(self) -> Iterator[bool]:
        """True while this process holds the registry's retrain slot (an flock on
        `.retrain.lock`), False at once when another process holds it."""
        with (self.root / ".retrain.lock").open("a+") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def read(self, name: str) -> str | None:
        try:
            return (self.root / f"{name}.json").read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def write(self, name: str, data: dict[str, Any]) -> None:
        atomic_write_json(self.root / f"{name}.json", data)

    def delete(self, name: str) -> None:
        (self.root / f"{name}.json").unlink(missing_ok=True)
        _fsync_dir(self.root)

    def allocate(self, names: list[str]) -> int:
        """The next version number (called under `locked`): one past the newest folder."""
        return int(names[-1][1:]) + 1 if names else 1

    def stamp(self) -> tuple[object, ...]:
        """Changes whenever a pointer changes: each file's (inode, mtime, size), one stat
        each, cheap enough for every model poll."""
        stamps: list[tuple[int, int, int] | None] = []
        for name in ("production", "shadow"):
            try:
                st = os.stat(self.root / f"{name}.json")
                stamps.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except FileNotFoundError:
                stamps.append(None)
        return tuple(stamps)

    def close(self) -> None:
        """Nothing to release: files."""


class PgCoordination:
    """Where a registry shared by several hosts keeps its pointers and its lock: in
    PostgreSQL, because flock(2) is not reliable on network file systems. The pointers are
    rows of `registry_pointers`, the allocated names rows of `registry_versions`, and the
    lock is a transaction-level advisory lock: a pointer change commits with the lock's
    release, and a process that dies while holding it releases it with its connection.
    The artifacts stay files on the shared `SELFHEAL_REGISTRY_DIR`, sha256-checked on load.
    """

    LOCK_KEY = 7_349_120_002  # pg_advisory_xact_lock key of the registry
    BOOTSTRAP_KEY = 7_349_120_003  # pg_advisory_lock key held while the first model trains
    RETRAIN_KEY = 7_349_120_005  # pg_try_advisory_lock key held while a retrain runs

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Any = None
        self._lock = threading.RLock()

    def _c(self) -> Any:
        from selfheal import db

        if self._conn is None or not self._conn.usable:
            if self._conn is not None:
                try:
                    self._conn.close()
                except Exception:  # broken already
                    pass
            self._conn = db.connect(self.url)
        return self._conn

    def where(self, name: str) -> str:
        return f"the registry_pointers row {name!r}"

    @contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock:
            conn = self._c()
            conn.execute("BEGIN")
            try:
                conn.execute("SELECT pg_advisory_xact_lock(?)", (self.LOCK_KEY,))
                yield
            except BaseException:
                if conn.usable:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def bootstrapping(self) -> Iterator[None]:
        """As `FileCoordination.bootstrapping`, on a connection of its own (a session-level
        advisory lock, released when it closes, also by a crash)."""
        from selfheal import db

        conn = db.connect(self.url)
        try:
            conn.execute("SELECT pg_advisory_lock(?)", (self.BOOTSTRAP_KEY,))
            yield
        finally:
            conn.close()

    @contextmanager
    def retrain_slot(self) -> Iterator[bool]:
        """As `FileCoordination.retrain_slot`, across hosts: a session-level advisory lock
        on a connection of its own, released when it closes (also by a crash)."""
        from selfheal import pg

        try:
            conn = pg.connect(self.url, retry=False)
        except Exception:  # no database: no retrain either
            yield False
            return
        try:
            got = conn.execute("SELECT pg_try_advisory_lock(?)", (self.RETRAIN_KEY,)).fetchone()
            yield bool(got[0])
        finally:
            conn.close()

    def read(self, name: str) -> str | None:
        with self._lock:
            row = (
                self._c()
                .execute("SELECT data FROM registry_pointers WHERE name = ?", (name,))
                .fetchone()
            )
        return None if row is None else str(row[0])

    def write(self, name: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._c().execute(
                "INSERT INTO registry_pointers (name, data, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET data = excluded.data,"
                " updated_at = excluded.updated_at",
                (name, json.dumps(data, sort_keys=True, allow_nan=False), iso()),
            )

    def delete(self, name: str) -> None:
        with self._lock:
            self._c().execute("DELETE FROM registry_pointers WHERE name = ?", (name,))

    def allocate(self, names: list[str]) -> int:
        """The next version number (called under `locked`), past both the folders this host
        sees and the names any host allocated; the row commits with the registration."""
        with self._lock:
            conn = self._c()
            row = conn.execute(
                "SELECT MAX(CAST(SUBSTR(version, 2) AS INTEGER)) FROM registry_versions"
            ).fetchone()
            number = max(int(row[0] or 0), int(names[-1][1:]) if names else 0) + 1
            conn.execute(
                "INSERT INTO registry_versions (version, created_at) VALUES (?, ?)",
                (f"v{number:04d}", iso()),
            )
        return number

    def stamp(self) -> tuple[object, ...]:
        """Changes whenever a pointer changes: each row's name and the md5 of its data, one
        indexed read of two rows per model poll."""
        with self._lock:
            rows = (
                self._c()
                .execute("SELECT name, md5(data) FROM registry_pointers ORDER BY name")
                .fetchall()
            )
        return tuple((str(r[0]), str(r[1])) for r in rows)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class Registry:
    """Owns the model files under `root`: write-once version folders (`v0001/` ...) with a
    sha256 manifest, and the production and shadow pointers, replaced atomically (temp file,
    fsync, rename). Loading verifies every artifact's sha256 and the scikit-learn version
    (`IntegrityError` otherwise) and caches the loaded models.

    Thread-safe within a process (a lock) and across processes: `coordination` holds the
    pointers and the cross-process lock, in files with flock(2) (`FileCoordination`, the
    default) or in PostgreSQL (`PgCoordination`, for several hosts). Every promotion,
    rollback, shadow change and registration is also sent to `record_event` (the
    `model_events` audit table). Errors: `NotFoundError` (unknown version), `InvalidVersionError`,
    `RegistryError` (no production, rejected version, nothing to roll back to).
    """

    def __init__(
        self,
        root: Path | str,
        record_event: EventSink | None = None,
        coordination: FileCoordination | PgCoordination | None = None,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.coordination = coordination or FileCoordination(self.root)
        self._record = record_event
        self._thread_lock = threading.RLock()
        self._cache: OrderedDict[str, LoadedModel] = OrderedDict()

    # -- locking -------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise against other threads (RLock) and other processes (the coordination's
        lock: flock, or PostgreSQL's advisory lock)."""
        with self._thread_lock:
            with self.coordination.locked():
                yield

    def _event(
        self,
        event: str,
        version: str | None,
        previous: str | None,
        reason: str,
        actor: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        if self._record is not None:
            self._record(
                {
                    "event": event,
                    "version": version,
                    "previous_version": previous,
                    "reason": reason,
                    "actor": actor,
                    "details": details or {},
                    "created_at": iso(),
                }
            )

    # -- versions ------------------------------------------------------------------------
    def version_names(self) -> list[str]:
        names = [p.name for p in self.root.iterdir() if p.is_dir() and VERSION_RE.match(p.name)]
        return sorted(names, key=lambda n: int(n[1:]))

    def path(self, version: str) -> Path:
        check_version_name(version)
        p = self.root / version
        if not (p / "meta.json").is_file():
            raise NotFoundError(
                f"model version {version} does not exist; `{cli('models')}` lists the versions",
                code="unknown_version",
            )
        return p

    def meta(self, version: str) -> dict[str, Any]:
        try:
            meta: dict[str, Any] = json.loads((self.path(version) / "meta.json").read_text())
        except json.JSONDecodeError as exc:
            raise IntegrityError(f"{version}/meta.json is corrupt: {exc.msg}") from None
        return meta

    def register(
        self,
        *,
        pipeline: Any,
        schema: FeatureSchema,
        metrics: dict[str, Any],
        threshold: float,
        reference: pd.DataFrame,
        reference_scores: np.ndarray,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        calibrator: dict[str, Any] | None = None,
        parent: str | None = None,
        trigger: str = "manual",
        reason: str = "",
        status: str = "candidate",
        gates: list[dict[str, Any]] | None = None,
        actor: str = "cli",
    ) -> str:
        """Write a new write-once version and return its name (v0001, v0002, ...)."""
        from selfheal.drift import build_sketch  # local: drift imports numpy-heavy code

        if status not in ("candidate", "rejected"):
            raise RegistryError(
                f"a new version's status must be candidate or rejected, not {status!r}"
            )
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        try:
            joblib.dump(pipeline, staging / "model.joblib", compress=3)
            save_reference(staging / "reference.npz", reference, reference_scores, schema)
            feats = reference[schema.names]
            sketch = build_sketch(
                feats,
                numeric=schema.numeric,
                categorical=schema.categorical,
                scores=np.asarray(reference_scores, dtype=np.float64),
            )
            sketch.save(staging / "sketch.npz")
            files = {
                n: sha256_file(staging / n) for n in ("model.joblib", "reference.npz", "sketch.npz")
            }
            meta: dict[str, Any] = {
                "created_at": iso(),
                "sha256": files,
                "metrics": metrics,
                "threshold": float(threshold),
                "schema": schema.to_dict(),
                "params": params or {},
                "data": data or {},
                "calibrator": calibrator,
                "libraries": library_versions(),
                "parent": parent,
                "trigger": trigger,
                "reason": reason,
                "status": status,
                "gates": gates or [],
            }
            with self._locked():
                number = self.coordination.allocate(self.version_names())
                version = f"v{number:04d}"
                meta["version"] = version
                (staging / "meta.json").write_text(
                    json.dumps(meta, indent=2, sort_keys=True, allow_nan=False) + "\n"
                )
                for f in staging.iterdir():
                    with f.open("rb") as fh:
                        os.fsync(fh.fileno())
                    f.chmod(0o444)
                # rename(2) onto a missing name is atomic; the lock makes the name ours.
                os.rename(staging, self.root / version)
                _fsync_dir(self.root)
                self._event(
                    "rejected" if status == "rejected" else "registered",
                    version,
                    parent,
                    reason or f"registered by {actor}",
                    actor,
                    {"metrics": metrics, "trigger": trigger, **({"gates": gates} if gates else {})},
                )
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return version

    def verify(self, version: str) -> dict[str, Any]:
        """Check every file's sha256 and the scikit-learn version; return the meta."""
        meta = self.meta(version)
        base = self.path(version)
        for name, digest in (meta.get("sha256") or {}).items():
            f = base / name
            if not f.is_file():
                raise IntegrityError(
                    f"{version}/{name} is missing; restore the registry from "
                    f"backup or register a new version"
                )
            actual = sha256_file(f)
            if actual != digest:
                raise IntegrityError(
                    f"{version}/{name} has sha256 {actual[:12]}..., but its manifest says "
                    f"{digest[:12]}...; the artifact was modified, refusing to load it",
                    details={"version": version, "file": name},
                )
        trained = (meta.get("libraries") or {}).get("scikit-learn")
        if trained != sklearn.__version__:
            raise IntegrityError(
                f"{version} was trained with scikit-learn {trained}, but {sklearn.__version__} "
                f"is installed; retrain it (`{cli('train')}`) or install scikit-learn=={trained}",
                code="library_mismatch",
                details={"version": version, "trained": trained, "running": sklearn.__version__},
            )
        return meta

    def load(self, version: str) -> LoadedModel:
        """The verified model of `version`, from a small LRU cache (production, shadow and
        a challenger's champion are what a process needs; retrains must not pile up)."""
        with self._thread_lock:
            if version in self._cache:
                self._cache.move_to_end(version)
                return self._cache[version]
        meta = self.verify(version)
        pipeline = joblib.load(self.path(version) / "model.joblib")
        model = LoadedModel(
            version=version,
            pipeline=pipeline,
            schema=FeatureSchema.from_dict(meta["schema"]),
            threshold=float(meta.get("threshold", 0.5)),
            meta=meta,
        )
        with self._thread_lock:
            self._cache[version] = model
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return model

    def serving(self, version: str) -> LoadedModel:
        """`load(version)` with its compiled scorer (selfheal/compiled.py) when that gives
        every probability of a check sample bit for bit as scikit-learn does: up to 1,000
        reference rows, the same with a fifth of the values missing, and scaled to
        extremes. What the server scores with; cached like `load`."""
        from selfheal.compiled import compile_pipeline, verified

        key = f"{version}:serving"
        with self._thread_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        model = self.load(version)
        try:
            frame, _ = self.reference(version)
            X = model.schema.frame_to_matrix(frame.iloc[:1000])
        except Exception as exc:  # no sample, no proof: scikit-learn scores
            log.info("%s scores with scikit-learn: no reference sample (%s)", version, exc)
            return model
        sample = _check_sample(X)
        compiled = verified(compile_pipeline(model.pipeline), model.pipeline, sample)
        served = dataclasses.replace(model, compiled=compiled)
        log.info("%s scores with %s", version, served.scoring)
        with self._thread_lock:
            self._cache[key] = served
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return served

    def reference(self, version: str) -> tuple[pd.DataFrame, np.ndarray]:
        self.verify(version)
        return load_reference(self.path(version) / "reference.npz")

    def sketch_path(self, version: str) -> Path:
        return self.path(version) / "sketch.npz"

    # -- the production pointer ----------------------------------------------------------
    @property
    def pointer_path(self) -> Path:
        return self.root / "production.json"

    def pointer(self) -> dict[str, Any] | None:
        text = self.coordination.read("production")
        if text is None:
            return None
        try:
            data: dict[str, Any] = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IntegrityError(
                f"{self.coordination.where('production')} is corrupt ({exc.msg}); restore it "
                f"from backup or run `{cli('promote VERSION')}`"
            ) from None
        return data

    def production(self) -> str | None:
        p = self.pointer()
        return p["version"] if p else None

    def promote(
        self,
        version: str,
        *,
        reason: str = "",
        actor: str = "cli",
        force: bool = False,
        details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        check_version_name(version)
        with self._locked():
            meta = self.verify(version)
            if meta.get("status") == "rejected" and not force:
                raise RegistryError(
                    f"{version} was rejected by the evaluation gates; pass --force (API: "
                    f'"force": true) to promote it anyway',
                    code="version_rejected",
                )
            try:
                current = self.pointer()
            except IntegrityError:
                # Promoting is how an operator repairs a corrupt pointer: start afresh.
                current = None
            if current and current["version"] == version:
                raise RegistryError(
                    f"{version} is already in production", code="already_production"
                )
            history = list(current.get("history", [])) if current else []
            if current:
                history.append(current["version"])
            served = list(current.get("served", [])) if current else []
            pointer: dict[str, Any] = {
                "version": version,
                "previous": current["version"] if current else None,
                "promoted_at": iso(),
                "reason": reason or f"promoted by {actor}",
                "actor": actor,
                "history": history[-100:],
                "served": sorted(set(served) | {version}, key=lambda n: int(n[1:])),
            }
            self.coordination.write("production", pointer)
            self._event("promoted", version, pointer["previous"], pointer["reason"], actor, details)
        return pointer

    def rollback(
        self,
        *,
        to: str | None = None,
        reason: str = "",
        actor: str = "cli",
        details: dict[str, Any] | None = None,
        check: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Return production to the previous version (or `to`). The version rolled back
        from is not pushed onto the history, so a second rollback goes further back.

        `check(target)` runs under the lock once the target is known, before the pointer
        moves; it refuses by raising (the CLI and the API refuse a change of the feature
        set without force: `home.rollback_check`)."""
        if to is not None:
            check_version_name(to)
        with self._locked():
            current = self.pointer()
            if not current:
                raise RegistryError(
                    "there is no production model to roll back; run "
                    f"`{cli('init')}` or `{cli('promote VERSION')}`",
                    code="no_production",
                )
            history = list(current.get("history", []))
            if to is None:
                if not history:
                    raise RegistryError(
                        f"{current['version']} has no previous production "
                        f"version to roll back to; use --to VERSION",
                        code="no_previous",
                    )
                target = history.pop()
            else:
                if to == current["version"]:
                    raise RegistryError(f"{to} is already in production", code="already_production")
                if to in history:
                    history = history[: len(history) - 1 - history[::-1].index(to)]
                target = to
            if self.verify(target).get("status") == "rejected":
                raise RegistryError(
                    f"{target} was rejected by the evaluation gates; a rollback only returns "
                    f"to versions that may serve. Use `{cli(f'promote {target} --force')}` to "
                    "serve it deliberately",
                    code="version_rejected",
                )
            if check is not None:
                check(target)
            pointer: dict[str, Any] = {
                "version": target,
                "previous": current["version"],
                "promoted_at": iso(),
                "reason": reason or f"rolled back by {actor}",
                "actor": actor,
                "history": history,
                "served": sorted(
                    set(current.get("served", [])) | {target}, key=lambda n: int(n[1:])
                ),
            }
            self.coordination.write("production", pointer)
            self._event(
                "rolled_back", target, current["version"], pointer["reason"], actor, details
            )
        return pointer

    # -- shadow -------------------------------------------------------------------------
    @property
    def shadow_path(self) -> Path:
        return self.root / "shadow.json"

    def shadow(self) -> str | None:
        """The version scored in shadow beside production, if any."""
        text = self.coordination.read("shadow")
        if text is None:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
        version = data.get("version")
        return version if isinstance(version, str) else None

    def set_shadow(self, version: str | None, *, reason: str = "", actor: str = "cli") -> None:
        """Score `version` in shadow on live traffic (None stops shadow scoring)."""
        with self._locked():
            previous = self.shadow()
            if version is None:
                if previous is None:
                    return
                self.coordination.delete("shadow")
                self._event("shadow_stopped", previous, None, reason or "shadow stopped", actor)
                return
            check_version_name(version)
            self.verify(version)
            self.coordination.write(
                "shadow", {"version": version, "since": iso(), "reason": reason, "actor": actor}
            )
            self._event("shadow_started", version, previous, reason or "shadow started", actor)

    def list(self, *, verify: bool = False) -> list[dict[str, Any]]:
        """Every version with its status, newest last. `verify` also checks each version's
        sha256 manifest and library versions and reports a failing one as corrupt."""
        try:
            pointer = self.pointer() or {}
        except IntegrityError:
            pointer = {}
        served = set(pointer.get("served", []))
        rows: list[dict[str, Any]] = []
        for name in self.version_names():
            try:
                meta = self.verify(name) if verify else self.meta(name)
            except IntegrityError as exc:
                rows.append(
                    {
                        "version": name,
                        "status": "corrupt",
                        "error": exc.message,
                        "reason": exc.message,
                    }
                )
                continue
            if name == pointer.get("version"):
                status = "production"
            elif meta.get("status") == "rejected":
                status = "rejected"
            elif name in served:
                status = "archived"
            else:
                status = "candidate"
            m = meta.get("metrics") or {}
            rows.append(
                {
                    "version": name,
                    "status": status,
                    "created_at": meta.get("created_at"),
                    "parent": meta.get("parent"),
                    "trigger": meta.get("trigger"),
                    "reason": meta.get("reason"),
                    "classifier": (meta.get("params") or {}).get("classifier"),
                    "metrics": {k: m.get(k) for k in ("f1", "auc", "brier", "precision", "recall")},
                    "rows": (meta.get("data") or {}).get("rows"),
                }
            )
        return rows
