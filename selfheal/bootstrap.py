"""Bootstrap: a state root made ready to serve, with its folder, migrated database and first model.

The server calls `ensure_production` at start-up, before its writer opens the database; the
CLI's `selfheal init` calls `first_model` through its `Home`. Both train v0001 the same way:
on synthetic credit data (`SELFHEAL_BOOTSTRAP_ROWS` rows, `SELFHEAL_SEED`), judged against
the absolute floors because there is no champion yet, then promoted. `register_trained` is
how every model trained outside a retrain (`selfheal train`, replay) enters the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from selfheal import datasets, db, store
from selfheal.config import Settings
from selfheal.errors import ConfigError, DataError, GateRejected
from selfheal.loop import open_registry
from selfheal.registry import Registry
from selfheal.schema import FeatureSchema, infer_schema
from selfheal.training import TrainResult, train


def open_database(settings: Settings) -> db.Connection:
    """Create the home folder if needed and open its database, migrated to the newest
    schema, on a connection of the caller's own."""
    try:
        settings.home_path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, a read-only disk: a setting to fix
        raise ConfigError(
            f"home {settings.home_path} cannot be used as a folder: "
            f"{exc.strerror or exc}; point SELFHEAL_HOME (replay: --home) at a folder "
            "you can write to",
            code="invalid_setting",
        ) from None
    return db.open_db(settings.database, sync=settings.sync, wal_limit=settings.wal_max_bytes)


def event_recorder(conn: db.Connection) -> Callable[[dict[str, Any]], None]:
    """Registry events recorded on `conn`, each in its own transaction (outside the server,
    whose writer records them instead)."""

    def record(event: dict[str, Any]) -> None:
        with db.transaction(conn):
            store.insert_event(conn, event)

    return record


def synthetic_data(
    settings: Settings, *, rows: int, seed: int, declared: FeatureSchema | None = None
) -> tuple[pd.DataFrame, np.ndarray, FeatureSchema, str]:
    """`rows` rows of synthetic credit data: `(features, 0/1 target, schema, source)`.
    `declared` may declare some of its columns (default: `datasets.CREDIT_SCHEMA`)."""
    frame = datasets.generate(rows, seed=seed)
    y = frame.pop(datasets.TARGET).to_numpy()
    declared = declared or datasets.CREDIT_SCHEMA
    unknown = [n for n in declared.names if n not in frame.columns]
    if unknown:
        raise DataError(
            f"column(s) {unknown} of the schema are not in the synthetic credit data; its "
            f"columns are {list(frame.columns)} (pass --data CSV for your own)",
            code="invalid_data",
        )
    schema = infer_schema(
        frame, target=datasets.TARGET, declared=declared, names=list(frame.columns)
    )
    return frame, y, schema, f"synthetic credit data, seed {seed}"


def register_trained(
    settings: Settings,
    registry: Registry,
    result: TrainResult,
    y: np.ndarray,
    schema: FeatureSchema,
    *,
    source: str,
    promote: bool,
    actor: str,
    reason: str,
    trigger: str,
) -> str:
    """Register `result` (trained on target `y`) as a candidate, and promote it if asked.

    The first model has no champion: it is judged against absolute floors
    (`SELFHEAL_GATE_FLOOR_AUC`, `SELFHEAL_GATE_FLOOR_F1`); below them it is registered as
    rejected and `GateRejected` is raised. Returns the version."""
    parent = registry.production()
    status, gates = "candidate", None
    if parent is None:
        from selfheal.gates import statistical_gate

        floor = statistical_gate(
            np.asarray(y)[result.holdout_index],
            result.reference_scores,
            None,
            threshold=result.threshold,
            config=settings.gate_config(),
        )
        gates = [floor.to_dict()]
        if not floor.passed:
            status = "rejected"
            reason = f"first model below the floors: {floor.reason}"
    version = registry.register(
        **result.artifacts(),
        schema=schema,
        data={**result.data, "source": source},
        parent=parent,
        trigger=trigger,
        reason=reason or f"trained from {source}",
        actor=actor,
        status=status,
        gates=gates,
    )
    if status == "rejected":
        raise GateRejected(
            f"{version} was registered as rejected: {reason}; check the data and the target",
            details=gates,
        )
    if promote:
        registry.promote(version, reason=reason or f"trained from {source}", actor=actor)
    return version


def first_model(settings: Settings, registry: Registry, *, actor: str) -> str | None:
    """Make sure a production model exists: train and promote v0001 on synthetic data when
    the registry has none. Returns the version created, or None when one already served."""
    if registry.production() is not None:
        return None
    with registry.coordination.bootstrapping():  # processes starting together train once
        if registry.production() is not None:
            return None
        return _train_first(settings, registry, actor=actor)


def _train_first(settings: Settings, registry: Registry, *, actor: str) -> str | None:
    frame, y, schema, source = synthetic_data(
        settings, rows=settings.bootstrap_rows, seed=settings.seed
    )
    result = train(frame, y, schema, classifier=settings.classifier, seed=settings.seed)
    return register_trained(
        settings,
        registry,
        result,
        y,
        schema,
        source=source,
        promote=True,
        actor=actor,
        reason="bootstrap: first model on synthetic credit data",
        trigger="bootstrap",
    )


def ensure_production(settings: Settings, *, actor: str = "init") -> str | None:
    """`first_model` on a connection of its own, closed before returning: the server's
    start-up, before its writer opens the database. Also migrates the database."""
    conn = open_database(settings)
    registry = open_registry(settings, event_recorder(conn))
    try:
        return first_model(settings, registry, actor=actor)
    finally:
        registry.coordination.close()
        conn.close()
