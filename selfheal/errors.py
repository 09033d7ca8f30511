"""The error hierarchy. Every error carries a stable code, a message that names what was
passed and what is allowed, and optional details. The API maps them to JSON bodies and the
CLI to one stderr line and an exit code; nothing else catches them."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any


def command_name() -> str:
    """How to call this CLI so that a printed hint runs as printed: `selfheal` when that is
    on PATH and belongs to this interpreter, else this interpreter's own script
    (`.venv/bin/selfheal` after `make install`), else `python -m selfheal` with this
    interpreter."""
    here = Path(sys.executable).parent
    on_path = shutil.which("selfheal")
    if on_path and Path(on_path).resolve().parent == here.resolve():
        return "selfheal"
    script = here / "selfheal"
    if script.exists():
        try:
            return str(script.relative_to(Path.cwd()))
        except ValueError:
            return str(script)
    return f"{sys.executable} -m selfheal"


def cli(args: str) -> str:
    """A CLI command as this user can run it, for a hint in a message: `cli("init")` is
    `selfheal init`, or `.venv/bin/selfheal init` when the venv is not activated."""
    return f"{command_name()} {args}"


class SelfhealError(Exception):
    """Base class. `code` is stable and documented in docs/troubleshooting.md."""

    code = "selfheal_error"
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class ConfigError(SelfhealError):
    code = "invalid_setting"
    http_status = 500


class ValidationError(SelfhealError):
    """Input that breaks the feature schema; `details` lists every problem."""

    code = "validation_failed"
    http_status = 422


class DataError(SelfhealError):
    """A data file or data set that cannot be used (CSV, target, columns)."""

    code = "invalid_data"
    http_status = 422


class NotFoundError(SelfhealError):
    code = "not_found"
    http_status = 404


class ConflictError(SelfhealError):
    code = "conflict"
    http_status = 409


class RegistryError(SelfhealError):
    code = "registry_error"
    http_status = 409


class InvalidVersionError(RegistryError):
    """A version name from outside that is not of the form v0001 (never used as a path)."""

    code = "invalid_version"
    http_status = 422


class IntegrityError(RegistryError):
    """An artifact whose sha256 or library versions do not match its manifest."""

    code = "artifact_integrity"
    http_status = 500


class NoModelError(SelfhealError):
    code = "no_model"
    http_status = 503


class UnavailableError(SelfhealError):
    code = "unavailable"
    http_status = 503


class GateRejected(SelfhealError):
    code = "gate_rejected"
    http_status = 409
