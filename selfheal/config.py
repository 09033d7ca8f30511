"""Settings from `SELFHEAL_*` environment variables and an optional `.env` file.

Every setting is declared once in `SETTINGS` with its type, default, allowed range and
meaning; `.env.example` and the docs are checked against that table by the tests. A bad value
stops start-up with a `ConfigError` naming the variable, the value and what is allowed.
The environment wins over `.env`, which is read with the standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfheal.errors import ConfigError

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_CLASSIFIERS = ("hgb", "logreg")


@dataclass(frozen=True)
class Setting:
    name: str  # attribute on Settings
    kind: str  # "str" | "int" | "float" | "bool" | "choice" | "path"
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    secret: bool = False

    @property
    def env(self) -> str:
        return "SELFHEAL_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("home", "path", "./var", "State root: database, registry and reports live here."),
    Setting("host", "str", "127.0.0.1", "Address the HTTP server binds to."),
    Setting("port", "int", 8000, "TCP port of the HTTP server.", low=1, high=65535),
    Setting("threads", "int", 16, "waitress worker threads.", low=1, high=512),
    Setting("log_level", "choice", "INFO", "Python logging level.", choices=_LOG_LEVELS),
    Setting(
        "admin_token",
        "str",
        "",
        "Bearer token for admin routes (promote, rollback, monitoring run). "
        "Empty disables them (403).",
        secret=True,
    ),
    Setting(
        "max_instances", "int", 1000, "Most records in one /predict batch.", low=1, high=100_000
    ),
    Setting(
        "max_body_bytes",
        "int",
        1_048_576,
        "Largest accepted request body in bytes.",
        low=1024,
        high=1_073_741_824,
    ),
    Setting(
        "batch_max_wait_ms",
        "float",
        0.0,
        "Extra time the scoring pipeline waits for a batch to fill (0 = none; batches "
        "form from what queues up while the previous one is scored).",
        low=0,
        high=1000,
    ),
    Setting(
        "max_queue",
        "int",
        10_000,
        "Most records waiting for scoring and commit before /predict answers 503.",
        low=1,
        high=1_000_000,
    ),
    Setting(
        "model_poll_seconds",
        "float",
        1.0,
        "How often the server checks the registry pointer for a promotion or rollback "
        "made by another process.",
        low=0.05,
        high=60,
    ),
    Setting(
        "classifier",
        "choice",
        "hgb",
        "Default classifier for training: hgb (HistGradientBoosting) or logreg.",
        choices=_CLASSIFIERS,
    ),
    Setting(
        "seed", "int", 42, "Seed for synthetic data, splits and training.", low=0, high=2**32 - 1
    ),
    Setting(
        "bootstrap_rows",
        "int",
        6000,
        "Rows of synthetic credit data used by `init` for the first model.",
        low=500,
        high=10_000_000,
    ),
)

_BY_ENV = {s.env: s for s in SETTINGS}


def _parse(setting: Setting, raw: str) -> Any:
    value = raw.strip()

    def bad(allowed: str) -> ConfigError:
        return ConfigError(
            f"{setting.env}={raw!r} is not valid: expected {allowed}",
            details={"variable": setting.env, "value": raw, "allowed": allowed},
        )

    if setting.kind in ("str", "path"):
        if setting.kind == "path" and not value:
            raise bad("a non-empty path")
        return value
    if setting.kind == "choice":
        upper = setting.choices == _LOG_LEVELS
        v = value.upper() if upper else value.lower()
        if v not in setting.choices:
            raise bad("one of " + ", ".join(setting.choices))
        return v
    if setting.kind == "bool":
        low = value.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise bad("true or false (1/0, yes/no, on/off)")
    convert: Callable[[str], Any] = int if setting.kind == "int" else float
    rng = f"a{'n integer' if setting.kind == 'int' else ' number'}"
    if setting.low is not None and setting.high is not None:
        rng += f" from {_fmt(setting.low)} to {_fmt(setting.high)}"
    try:
        number = convert(value)
    except ValueError:
        raise bad(rng) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise bad(rng)
    if (setting.low is not None and number < setting.low) or (
        setting.high is not None and number > setting.high
    ):
        raise bad(rng)
    return number


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a `.env` file: `KEY=value` lines, `#` comments, optional `export` and quotes."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return values
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[7:].lstrip()
        key, sep, value = stripped.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"{path}:{lineno}: expected KEY=value, got {line.strip()!r}",
                details={"file": str(path), "line": lineno},
            )
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values


@dataclass(frozen=True)
class Settings:
    """Validated settings. Build with `Settings.load()`; tests pass overrides."""

    values: Mapping[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: Path | str | None = None,
        **overrides: Any,
    ) -> Settings:
        """Read settings: defaults < `.env` file < environment < keyword overrides.

        `env_file` defaults to `$SELFHEAL_ENV_FILE` or `./.env`. Unknown `SELFHEAL_*`
        variables are an error, so a typo never silently falls back to a default.
        """
        env = dict(os.environ if environ is None else environ)
        file_path = Path(env_file or env.get("SELFHEAL_ENV_FILE") or ".env")
        merged = {**read_env_file(file_path), **env}
        unknown = sorted(
            k
            for k in merged
            if k.startswith("SELFHEAL_") and k not in _BY_ENV and k != "SELFHEAL_ENV_FILE"
        )
        if unknown:
            raise ConfigError(
                f"unknown setting {unknown[0]}: known settings are listed in .env.example",
                details={"unknown": unknown},
            )
        values: dict[str, Any] = {}
        for s in SETTINGS:
            if s.name in overrides:
                values[s.name] = overrides.pop(s.name)
            elif s.env in merged:
                values[s.name] = _parse(s, merged[s.env])
            else:
                values[s.name] = s.default
        if overrides:
            raise ConfigError(f"unknown setting override(s): {', '.join(sorted(overrides))}")
        return cls(values)

    def replace(self, **changes: Any) -> Settings:
        unknown = set(changes) - set(self.values)
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return Settings({**self.values, **changes})

    @property
    def home_path(self) -> Path:
        return Path(self.values["home"]).expanduser()

    @property
    def db_path(self) -> Path:
        return self.home_path / "selfheal.db"

    @property
    def registry_path(self) -> Path:
        return self.home_path / "registry"

    @property
    def reports_path(self) -> Path:
        return self.home_path / "reports"

    def public(self) -> dict[str, Any]:
        """Settings safe to show: secrets are reduced to whether they are set."""
        return {
            s.env: (bool(self.values[s.name]) if s.secret else self.values[s.name])
            for s in SETTINGS
        }


def render_env_example() -> str:
    """The text of `.env.example`: every setting, its default and meaning.

    A test keeps the checked-in file equal to this, so the file can never fall behind.
    """
    lines = [
        "# selfheal settings. Copy to .env (or export the variables); the environment wins.",
        "# Every SELFHEAL_* variable is listed with its default; an unknown or invalid one",
        "# stops start-up with an error that names it. Regenerate: python -m selfheal env",
        "",
    ]
    for s in SETTINGS:
        allowed = ""
        if s.choices:
            allowed = f" One of: {', '.join(s.choices)}."
        elif s.low is not None and s.high is not None:
            allowed = f" Range: {_fmt(s.low)} to {_fmt(s.high)}."
        elif s.kind == "bool":
            allowed = " true or false."
        lines.append(f"# {s.help}{allowed}")
        default = s.default
        if isinstance(default, bool):
            default = "true" if default else "false"
        lines.append(f"{s.env}={default}")
        lines.append("")
    return "\n".join(lines)
