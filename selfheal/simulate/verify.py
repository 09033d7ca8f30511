"""`selfheal simulate verify`: check the installation and say what is missing.

Each check returns its lines, which start with ok, missing or warning and say what to do.
Nothing is created or changed (the checks only read).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
import tempfile
from pathlib import Path
from typing import Any

from selfheal.errors import SelfhealError
from selfheal.simulate.client import Client, _one_line, default_url

RUNTIME_DEPENDENCIES = (
    ("sklearn", "scikit-learn", "1.3"),
    ("numpy", "numpy", "1.24"),
    ("pandas", "pandas", "2.0"),
    ("flask", "flask", "3.0"),
    ("waitress", "waitress", "3.0"),
    ("joblib", "joblib", "1.3"),
)


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


def _check_python() -> list[str]:
    py = sys.version_info
    pyv = f"{py.major}.{py.minor}.{py.micro}"
    if py < (3, 10):  # pragma: no cover - the package itself needs 3.10
        return [_line("missing", f"python {pyv} is too old; install Python 3.10 or newer")]
    return [_line("ok", f"python {pyv} (3.10 or newer needed)")]


def _check_dependencies() -> list[str]:
    """One line per runtime dependency: importable, and at least its minimum version."""
    lines: list[str] = []
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
    return lines


def _check_migrations(postgres: bool = False) -> tuple[list[str], int]:
    """The migrations line and how many migration files there are (0 when unreadable)."""
    from selfheal import db

    folder = db.PG_MIGRATIONS_DIR if postgres else db.MIGRATIONS_DIR
    try:
        n_migrations = len(db.migration_files(folder))
        return [_line("ok", f"migrations: {n_migrations} in {folder}")], n_migrations
    except SelfhealError as exc:
        return [_line("missing", f"migrations: {exc.message}")], 0


def _check_home(home: Path) -> list[str]:
    if not home.is_dir():
        return [
            _line(
                "missing",
                f"SELFHEAL_HOME {home} does not exist; run `make init` (or `make run`, which "
                "bootstraps it)",
            )
        ]
    try:
        with tempfile.TemporaryFile(dir=home):
            pass
        return [_line("ok", f"SELFHEAL_HOME {home} is writable")]
    except OSError as exc:
        return [
            _line(
                "missing",
                f"SELFHEAL_HOME {home} is not writable ({exc.strerror}); fix its "
                "permissions or point SELFHEAL_HOME elsewhere",
            )
        ]


def _schema_line(db_path: Path | str, schema_v: int, n_migrations: int) -> str:
    """The database's schema version against the `n_migrations` this code knows (0: not
    known, any version is ok)."""
    if n_migrations and schema_v < n_migrations:
        return _line(
            "missing",
            f"database {db_path} is at schema version {schema_v} of {n_migrations}; "
            "run `make init` to migrate it",
        )
    if n_migrations and schema_v > n_migrations:
        return _line(
            "missing",
            f"database {db_path} has schema version {schema_v}, newer than this "
            f"code knows ({n_migrations}); upgrade selfheal",
        )
    return _line("ok", f"database {db_path}: schema version {schema_v}")


def _check_database(settings: Any, n_migrations: int) -> list[str]:
    """The database's schema version: the SQLite file (read-only), or PostgreSQL."""
    from selfheal import db

    where = settings.database_label
    if not settings.postgres and not Path(settings.db_path).is_file():
        return [_line("missing", f"database {where} does not exist; run `make init`")]
    conn = None
    try:
        conn = db.connect(settings.database, readonly=True)
        return [_schema_line(where, db.schema_version(conn), n_migrations)]
    except Exception as exc:
        msg = exc.message if isinstance(exc, SelfhealError) else str(exc)
        return [_line("missing", f"database {where} cannot be read: {_one_line(msg)}")]
    finally:
        if conn is not None:
            conn.close()


def _check_registry(settings: Any) -> list[str]:
    """The production model: present, and its artifact's sha256 verified."""
    reg_path = Path(settings.registry_path)
    if not reg_path.is_dir():
        return [_line("missing", f"model registry {reg_path} does not exist; run `make init`")]
    try:
        from selfheal.loop import open_registry

        registry = open_registry(settings, lambda event: None)
        try:
            prod = registry.production()
        finally:
            registry.coordination.close()
        if prod is None:
            return [
                _line(
                    "missing",
                    "no model in production; run `make init` (or `selfheal promote VERSION`)",
                )
            ]
        meta = registry.verify(prod)
        sk = (meta.get("libraries") or {}).get("scikit-learn", "?")
        return [
            _line(
                "ok",
                f"model {prod} in production; artifact sha256 verified (scikit-learn {sk})",
            )
        ]
    except SelfhealError as exc:
        return [_line("missing", f"production model: {_one_line(exc.message)}")]


def _check_server(base: str, timeout: float) -> list[str]:
    """Whether a server answers /health on `base`: a warning when not, never missing."""
    try:
        with Client(base, timeout=timeout) as client:
            status, body = client.get("/health")
        if status == 200:
            served = (body.get("model") or {}).get("version") if isinstance(body, dict) else None
            return [_line("ok", f"server answers on {base} (model {served or '-'})")]
        bad = (
            [k for k, v in body.items() if isinstance(v, dict) and v.get("ok") is False]
            if isinstance(body, dict)
            else []
        )
        return [
            _line(
                "warning",
                f"server on {base} answers /health with {status}"
                + (f" ({', '.join(bad)} failing)" if bad else "")
                + "; see `selfheal simulate health`",
            )
        ]
    except SelfhealError as exc:
        return [_line("warning", f"server not running: {_one_line(exc.message)}")]


def _check_admin_token(token: str | None) -> list[str]:
    if token:
        return [_line("ok", "SELFHEAL_ADMIN_TOKEN is set")]
    return [
        _line(
            "warning",
            "SELFHEAL_ADMIN_TOKEN is empty: admin routes (monitoring run, promote, "
            "rollback) answer 403; set it in .env",
        )
    ]


def verify_installation(
    settings: Any, *, url: str | None = None, timeout: float = 3.0
) -> tuple[bool, list[str]]:
    """Check the installation; `ok` is False when a line says "missing".

    Lines start with ok, missing or warning and say what to do. Nothing is created or
    changed (the checks only read), and the server check is a warning, not a failure."""
    lines = _check_python() + _check_dependencies()
    migration_lines, n_migrations = _check_migrations(settings.postgres)
    lines += migration_lines
    lines += _check_home(Path(settings.home_path))
    lines += _check_database(settings, n_migrations)
    lines += _check_registry(settings)
    lines += _check_server(url or default_url(settings), timeout)
    lines += _check_admin_token(settings.admin_token)
    ok = not any(line.startswith("missing") for line in lines)
    return ok, lines
