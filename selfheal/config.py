"""Settings from `SELFHEAL_*` environment variables and an optional `.env` file.

Every setting is declared once in `SETTINGS` with its type, default, allowed range and
meaning; `.env.example` and the docs are checked against that table by the tests. A bad value
stops start-up with a `ConfigError` naming the variable, the value and what is allowed.
The environment wins over `.env`, which is read with the standard library only.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selfheal.errors import ConfigError

if TYPE_CHECKING:  # imported inside the methods at run time: settings load without numpy
    from selfheal.drift import DriftConfig
    from selfheal.gates import GateConfig
    from selfheal.policy import PolicyConfig

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_CLASSIFIERS = ("hgb", "logreg")
_SYNC_MODES = ("full", "normal")


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
    Setting(
        "database_url",
        "str",
        "",
        "Empty: the embedded SQLite file SELFHEAL_HOME/selfheal.db (nothing to install). "
        "postgresql://user:password@host:5432/dbname: PostgreSQL through psycopg 3 "
        "(pip install -e '.[postgres]'), which several run.py processes, on one host or "
        "many, may share. Never printed: messages show it without the password.",
        secret=True,
    ),
    Setting(
        "registry_dir",
        "str",
        "",
        "Folder of the model registry's artifacts. Empty: SELFHEAL_HOME/registry. Processes "
        "on several hosts need one shared path here (artifacts are sha256-checked on load).",
    ),
    Setting(
        "workers",
        "int",
        1,
        "Server processes on the one port: 1 is waitress in this process; more is "
        "gunicorn's pre-fork workers (pip install -e '.[server]'), each with "
        "SELFHEAL_THREADS threads. More than 1 needs SELFHEAL_DATABASE_URL (PostgreSQL).",
        low=1,
        high=64,
    ),
    Setting("host", "str", "127.0.0.1", "Address the HTTP server binds to."),
    Setting("port", "int", 8000, "TCP port of the HTTP server.", low=1, high=65535),
    Setting(
        "threads",
        "int",
        32,
        "waitress worker threads. Each holds one request while its batch is scored and "
        "committed, so this caps the batch size: set it at least to the number of "
        "concurrent clients.",
        low=1,
        high=512,
    ),
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
    # -- storage (docs/architecture.md, "Durability") ----------------------------------------
    Setting(
        "sync",
        "choice",
        "full",
        "SQLite synchronous mode of every connection (server, CLI, monitor). full: every "
        "acknowledged row survives a process crash, an OS crash and a power loss; normal: "
        "a process crash only (the last commits may roll back after an OS crash or power "
        "loss), for 10-20% more throughput. On PostgreSQL, full keeps synchronous_commit "
        "on and normal turns it off for selfheal's connections (a server crash may lose the "
        "last commits, never corrupt).",
        choices=_SYNC_MODES,
    ),
    Setting(
        "wal_max_mib",
        "float",
        16.0,
        "Bound on the SQLite -wal file in MiB: past it the writer runs a TRUNCATE "
        "checkpoint after its commit (readers never hold a snapshot between queries), and "
        "SQLite truncates the file back to it after each reset. An idle writer also "
        "checkpoints after 1 s without work.",
        low=1,
        high=4096,
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
    # -- monitor ----------------------------------------------------------------------------
    Setting("monitor_enabled", "bool", True, "Run the background monitor thread in run.py."),
    Setting(
        "monitor_interval", "float", 60.0, "Seconds between monitor cycles.", low=0.05, high=86_400
    ),
    Setting(
        "monitor_window",
        "int",
        1000,
        "Newest production predictions a monitor cycle examines.",
        low=10,
        high=1_000_000,
    ),
    Setting(
        "monitor_window_minutes",
        "float",
        0.0,
        "If > 0, the window is also limited to the last N minutes.",
        low=0,
        high=525_600,
    ),
    Setting(
        "drift_alpha",
        "float",
        0.05,
        "Significance level after Benjamini-Hochberg correction.",
        low=1e-6,
        high=0.5,
    ),
    Setting(
        "drift_min_window",
        "int",
        200,
        "Fewer rows than this give status insufficient_data, not a verdict.",
        low=10,
        high=1_000_000,
    ),
    Setting(
        "drift_wasserstein",
        "float",
        0.1,
        "Effect-size threshold for numeric features (normed Wasserstein).",
        low=0,
        high=10,
    ),
    Setting(
        "drift_js",
        "float",
        0.1,
        "Effect-size threshold for categorical features (Jensen-Shannon).",
        low=0,
        high=1,
    ),
    Setting("drift_psi", "float", 0.2, "PSI level reported as notable.", low=0, high=10),
    Setting(
        "drift_missing",
        "float",
        0.3,
        "Effect-size threshold for a feature's share of missing values (Cohen's h; 0.3 is "
        "0% -> 2.3% or 5% -> 14% missing).",
        low=0,
        high=3.15,
    ),
    Setting(
        "drift_share",
        "float",
        0.5,
        "Share of drifted features that makes dataset drift.",
        low=0.01,
        high=1,
    ),
    Setting(
        "drift_consecutive",
        "int",
        2,
        "Consecutive drifting cycles before drift triggers a retrain.",
        low=1,
        high=100,
    ),
    Setting(
        "f1_drop",
        "float",
        0.05,
        "Labeled F1 below the version's cross-validated F1, or label-free estimated F1 below "
        "the estimate on its reference scores, by more than this triggers a retrain.",
        low=0,
        high=1,
    ),
    Setting(
        "min_labels",
        "int",
        200,
        "Labeled rows in the window needed before labeled F1 is judged.",
        low=10,
        high=1_000_000,
    ),
    Setting(
        "auto_retrain",
        "bool",
        True,
        "Let the monitor retrain on its own triggers (false: record triggers only).",
    ),
    Setting(
        "cooldown_seconds",
        "float",
        3600.0,
        "Wall-clock cooldown after a retrain that trained a challenger, or an automatic "
        "rollback. New labeled evidence may start the next retrain sooner "
        "(SELFHEAL_RETRAIN_MIN_NEW_LABELS; docs/evaluation_gates.md).",
        low=0,
        high=30 * 86_400,
    ),
    Setting(
        "retention_days",
        "float",
        0.0,
        "If > 0, the monitor deletes predictions, labels and cycles older than this many "
        "days (the audit trail is kept). 0 keeps everything.",
        low=0,
        high=36_500,
    ),
    # -- retraining ----------------------------------------------------------------------
    Setting(
        "retrain_half_life_rows",
        "float",
        1000.0,
        "Recency weighting of a retrain: a row's weight halves every N rows back from the "
        "newest labeled row; the reference sample counts as the oldest data.",
        low=10,
        high=10_000_000,
    ),
    Setting(
        "retrain_max_rows",
        "int",
        20_000,
        "Most recent labeled live rows used for a retrain.",
        low=100,
        high=10_000_000,
    ),
    Setting(
        "retrain_min_new_labels",
        "int",
        200,
        "Labeled rows that must arrive after a retrain's data cutoff before the next one may "
        "start inside the cooldown (after a rejection or failure, or on a labeled-F1 collapse).",
        low=1,
        high=10_000_000,
    ),
    Setting(
        "retrain_recent_rows",
        "int",
        1000,
        "Size of the 'recent' candidate window of a retrain: the newest N labeled rows.",
        low=50,
        high=10_000_000,
    ),
    Setting(
        "holdout_fraction",
        "float",
        0.3,
        "Share of the labeled live rows, the most recent ones, held out to judge "
        "champion and challenger (capped by SELFHEAL_HOLDOUT_MAX_ROWS).",
        low=0.05,
        high=0.9,
    ),
    Setting(
        "holdout_max_rows",
        "int",
        500,
        "Cap of the time-ordered holdout, so the newest rows (a new concept) reach training "
        "too; never more than half of the rows since a detected change.",
        low=50,
        high=10_000_000,
    ),
    Setting(
        "probation_labels",
        "int",
        200,
        "Labeled predictions watched after the healer promotes a model (monitor trigger, "
        "selfheal retrain or train --challenge).",
        low=10,
        high=1_000_000,
    ),
    Setting(
        "probation_max_hours",
        "float",
        72.0,
        "A probation that has not collected its labels after this many hours ends without a "
        "verdict, so a deployment without labels is never stuck in probation.",
        low=0.01,
        high=24 * 365,
    ),
    Setting(
        "probation_max_f1_drop",
        "float",
        0.05,
        "Roll back when the new model's live F1 trails its predecessor's by more than "
        "this on the same traffic.",
        low=0,
        high=1,
    ),
    # -- gates (docs/evaluation_gates.md) ---------------------------------------------------
    Setting(
        "gate_min_rows",
        "int",
        500,
        "Data-quality gate: minimum training rows.",
        low=10,
        high=100_000_000,
    ),
    Setting(
        "gate_min_class_share",
        "float",
        0.05,
        "Data-quality gate: minimum share of each class.",
        low=0,
        high=0.5,
    ),
    Setting(
        "gate_min_f1_gain",
        "float",
        0.01,
        "Statistical gate: minimum F1 gain over the champion.",
        low=-1,
        high=1,
    ),
    Setting(
        "gate_bootstrap_n",
        "int",
        1000,
        "Statistical gate: paired bootstrap replicates.",
        low=100,
        high=100_000,
    ),
    Setting(
        "gate_bootstrap_confidence",
        "float",
        0.90,
        "Statistical gate: confidence of the gain interval.",
        low=0.5,
        high=0.999,
    ),
    Setting(
        "gate_max_brier_increase",
        "float",
        0.01,
        "Stability gate: largest allowed Brier increase.",
        low=0,
        high=1,
    ),
    Setting(
        "gate_max_slice_f1_drop",
        "float",
        0.10,
        "Stability gate: largest allowed F1 loss on a slice.",
        low=0,
        high=1,
    ),
    Setting(
        "gate_min_slice_rows",
        "int",
        30,
        "Stability gate: smaller slices are reported, not judged.",
        low=1,
        high=1_000_000,
    ),
    Setting(
        "gate_max_positive_rate_gap",
        "float",
        0.15,
        "Consistency gate: largest gap between positive rate and observed label rate.",
        low=0,
        high=1,
    ),
    Setting(
        "gate_max_latency_ratio",
        "float",
        3.0,
        "Consistency gate: largest scoring time per row relative to the champion.",
        low=1,
        high=1000,
    ),
    Setting("gate_floor_auc", "float", 0.6, "First-model floor: holdout AUC.", low=0, high=1),
    Setting("gate_floor_f1", "float", 0.3, "First-model floor: holdout F1.", low=0, high=1),
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
_BY_NAME = {s.name: s for s in SETTINGS}


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
        if setting.kind == "str" and setting.name == "host" and not is_host(value):
            raise bad(HOST_RULE)
        problem = database_url_problem(value) if setting.name == "database_url" and value else None
        if problem is not None:
            raise ConfigError(  # never echo the value: it may hold a password
                f"{setting.env} is not valid: {problem}; expected "
                "postgresql://user:password@host:port/dbname",
                details={"variable": setting.env},
            )
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


def database_url_problem(value: str) -> str | None:
    """What is wrong with a SELFHEAL_DATABASE_URL (None: nothing), without quoting it: it may
    hold a password. libpq reads the URL itself; this catches what it would only report
    later, at the first connection."""
    from urllib.parse import urlsplit

    if not value.startswith(("postgresql://", "postgres://")):
        return "it must start with postgresql:// (or be empty for SQLite under SELFHEAL_HOME)"
    if any(c.isspace() for c in value):
        return "it holds whitespace; percent-encode it (a space is %20)"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        port = 0  # not a number, or out of range
    if port == 0:
        return "its port is not a number from 1 to 65535"
    if parts.path in ("", "/"):
        return "it names no database: end it with /dbname"
    return None


HOST_RULE = (
    "an IP address of this machine (127.0.0.1, or 0.0.0.0 for every interface; IPv6 "
    "without brackets, e.g. ::1) or a host name (letters, digits, hyphens and dots, e.g. "
    "localhost)"
)
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def is_host(value: str) -> bool:
    """Whether `value` can be SELFHEAL_HOST: an IPv4 or IPv6 address literal, or a host
    name by RFC 1123 (dot-separated labels of 1-63 letters, digits and inner hyphens, at
    most 253 characters, not all digits in the last label, so `256.1.1.1` is neither).
    Nothing is looked up: whether the name resolves and the address belongs to this
    machine is the server's start-up (`selfheal.server`) to find out."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    if not name.isascii() or not 0 < len(name) <= 253:
        return False
    labels = name.split(".")
    return all(_HOST_LABEL.fullmatch(label) for label in labels) and not labels[-1].isdigit()


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def env_file_path(
    environ: Mapping[str, str], env_file: Path | str | None = None
) -> tuple[Path, bool]:
    """The settings file to read and whether it was named explicitly (`env_file`, or
    `SELFHEAL_ENV_FILE`); the default `./.env` may be absent, a named file may not."""
    named = env_file or environ.get("SELFHEAL_ENV_FILE")
    return Path(named or ".env"), bool(named)


def read_env_file(path: Path, *, required: bool = False) -> dict[str, str]:
    """Parse a `.env` file: `KEY=value` lines, `#` comments, optional `export` and quotes.

    A missing file is no settings, unless `required` (a file named by SELFHEAL_ENV_FILE:
    silently falling back to the defaults would hide a typo in its name). A file that
    cannot be read, or is not UTF-8 text, is a `ConfigError` naming it."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if not required:
            return values
        raise ConfigError(
            f"settings file {path} (SELFHEAL_ENV_FILE) does not exist; correct "
            "SELFHEAL_ENV_FILE or unset it to read ./.env",
            details={"file": str(path)},
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"settings file {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
            f"offset {exc.start}); save it as UTF-8",
            details={"file": str(path), "offset": exc.start},
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read settings file {path}: {exc.strerror or exc}",
            details={"file": str(path)},
        ) from None
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


# The Python type of each setting kind: the field types of `Settings` (checked by a test).
KIND_TYPES: dict[str, type] = {
    "str": str,
    "path": str,
    "int": int,
    "float": float,
    "bool": bool,
    "choice": str,
}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Validated settings. Build with `Settings.load()`; tests pass overrides.

    One typed field per declaration in `SETTINGS`, in the same order, so that mypy checks
    every setting name and type. The declarations stay the single source of defaults, ranges
    and help (`load` fills the fields from them); tests/test_config.py fails when the fields
    and the declarations differ. Secrets are left out of the repr.
    """

    home: str
    database_url: str = field(repr=False)
    registry_dir: str
    workers: int
    host: str
    port: int
    threads: int
    log_level: str
    admin_token: str = field(repr=False)
    max_instances: int
    max_body_bytes: int
    batch_max_wait_ms: float
    max_queue: int
    model_poll_seconds: float
    sync: str
    wal_max_mib: float
    classifier: str
    seed: int
    monitor_enabled: bool
    monitor_interval: float
    monitor_window: int
    monitor_window_minutes: float
    drift_alpha: float
    drift_min_window: int
    drift_wasserstein: float
    drift_js: float
    drift_psi: float
    drift_missing: float
    drift_share: float
    drift_consecutive: int
    f1_drop: float
    min_labels: int
    auto_retrain: bool
    cooldown_seconds: float
    retention_days: float
    retrain_half_life_rows: float
    retrain_max_rows: int
    retrain_min_new_labels: int
    retrain_recent_rows: int
    holdout_fraction: float
    holdout_max_rows: int
    probation_labels: int
    probation_max_hours: float
    probation_max_f1_drop: float
    gate_min_rows: int
    gate_min_class_share: float
    gate_min_f1_gain: float
    gate_bootstrap_n: int
    gate_bootstrap_confidence: float
    gate_max_brier_increase: float
    gate_max_slice_f1_drop: float
    gate_min_slice_rows: int
    gate_max_positive_rate_gap: float
    gate_max_latency_ratio: float
    gate_floor_auc: float
    gate_floor_f1: float
    bootstrap_rows: int

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
        file_path, named = env_file_path(env, env_file)
        merged = {**read_env_file(file_path, required=named), **env}
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
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        unknown = set(changes) - _BY_NAME.keys()
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    @property
    def home_path(self) -> Path:
        return Path(self.home).expanduser()

    @property
    def db_path(self) -> Path:
        """The embedded SQLite file (used when `database_url` is empty)."""
        return self.home_path / "selfheal.db"

    @property
    def database(self) -> Path | str:
        """What `db.connect` opens: the PostgreSQL URL when set, else the SQLite file."""
        return self.database_url or self.db_path

    @property
    def postgres(self) -> bool:
        return bool(self.database_url)

    @property
    def database_label(self) -> str:
        """The database for messages and `/health`: the SQLite path, or the URL without
        its password."""
        if not self.database_url:
            return str(self.db_path)
        from selfheal.db import redact

        return redact(self.database_url)

    @property
    def registry_path(self) -> Path:
        if self.registry_dir:
            return Path(self.registry_dir).expanduser()
        return self.home_path / "registry"

    @property
    def reports_path(self) -> Path:
        return self.home_path / "reports"

    @property
    def wal_max_bytes(self) -> int:
        return int(self.wal_max_mib * 1024 * 1024)

    def drift_config(self) -> DriftConfig:
        from selfheal.drift import DriftConfig

        return DriftConfig(
            alpha=self.drift_alpha,
            wasserstein_threshold=self.drift_wasserstein,
            js_threshold=self.drift_js,
            psi_threshold=self.drift_psi,
            missing_threshold=self.drift_missing,
            min_window=self.drift_min_window,
            dataset_drift_share=self.drift_share,
        )

    def policy_config(self) -> PolicyConfig:
        from selfheal.policy import PolicyConfig

        return PolicyConfig(
            drift_consecutive=self.drift_consecutive,
            f1_drop=self.f1_drop,
            min_labels=self.min_labels,
            cooldown_seconds=self.cooldown_seconds,
            min_new_labels=self.retrain_min_new_labels,
            window=self.monitor_window,
        )

    def gate_config(self) -> GateConfig:
        from selfheal.gates import GateConfig

        return GateConfig(
            min_rows=self.gate_min_rows,
            min_class_share=self.gate_min_class_share,
            min_f1_gain=self.gate_min_f1_gain,
            bootstrap_n=self.gate_bootstrap_n,
            bootstrap_confidence=self.gate_bootstrap_confidence,
            max_brier_increase=self.gate_max_brier_increase,
            max_slice_f1_drop=self.gate_max_slice_f1_drop,
            min_slice_rows=self.gate_min_slice_rows,
            max_positive_rate_gap=self.gate_max_positive_rate_gap,
            max_latency_ratio=self.gate_max_latency_ratio,
            floor_auc=self.gate_floor_auc,
            floor_f1=self.gate_floor_f1,
            seed=self.seed,
        )

    def public(self) -> dict[str, Any]:
        """Settings safe to show: secrets are reduced to whether they are set."""
        return {
            s.env: (bool(getattr(self, s.name)) if s.secret else getattr(self, s.name))
            for s in SETTINGS
        }


def check_environment(
    environ: Mapping[str, str] | None = None, env_file: Path | str | None = None
) -> list[str]:
    """Every problem `Settings.load` would stop at, all at once, one line each: unknown
    `SELFHEAL_*` variables (with the closest known name) and invalid values (the error
    `Settings.load` gives), each with where it came from (the environment or the `.env`
    file). Empty when the settings load. `selfheal env --check` prints them: the diagnosis
    cannot use `Settings.load`, which refuses at the first problem."""
    import difflib

    env = dict(os.environ if environ is None else environ)
    file_path, named = env_file_path(env, env_file)
    problems: list[str] = []
    try:
        from_file = read_env_file(file_path, required=named)
    except ConfigError as exc:  # listed; the environment is still checked
        from_file = {}
        problems.append(exc.message)
    merged = {**from_file, **env}
    for key in sorted(merged):
        if not key.startswith("SELFHEAL_") or key == "SELFHEAL_ENV_FILE":
            continue
        where = "the environment" if key in env else str(file_path)
        setting = _BY_ENV.get(key)
        if setting is None:
            near = difflib.get_close_matches(key, list(_BY_ENV), n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]}?" if near else "; see .env.example"
            problems.append(f"{key} (from {where}) is not a setting{hint}")
            continue
        try:
            _parse(setting, merged[key])
        except ConfigError as exc:
            problems.append(f"{exc.message} (from {where})")
    return problems


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


def render_settings_table() -> str:
    """The Markdown configuration table of the README (kept current by a test)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = s.default
        if isinstance(default, bool):
            default = "true" if default else "false"
        if default == "":
            default = "(empty)"
        rows.append(f"| `{s.env}` | `{default}` | {s.help.replace('|', '/')} |")
    return "\n".join(rows)
