"""The CLI's handle on a state root, and the operations the CLI and the API share: train,
promote, rollback, status.

`Home` binds one state root (SELFHEAL_HOME): its database and its registry. Registry events
are recorded through `record_event`, which outside the server writes on the Home's own
connection; replay passes its own to stamp them with its clock. A `Home` is a context
manager that closes its connection. The server does not use one: it builds its loop with
`selfheal.loop` and its first model with `selfheal.bootstrap`, as `Home` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd

from selfheal import datasets, db, store
from selfheal.bootstrap import (
    event_recorder,
    first_model,
    open_database,
    register_trained,
    synthetic_data,
)
from selfheal.config import Settings
from selfheal.errors import cli
from selfheal.healer import Healer
from selfheal.loop import build_loop, open_registry
from selfheal.monitor import Monitor
from selfheal.registry import Registry
from selfheal.schema import FeatureSchema, infer_schema
from selfheal.training import train


class Home:
    def __init__(
        self, settings: Settings, record_event: Callable[[dict[str, Any]], None] | None = None
    ) -> None:
        self.settings = settings
        self.conn: db.Connection = open_database(settings)  # migrates
        self.registry = open_registry(settings, record_event or event_recorder(self.conn))

    def __enter__(self) -> Home:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def write(self, fn: Callable[[db.Connection], Any]) -> Any:
        """Run `fn` in one transaction on this Home's connection (outside the server)."""
        with db.transaction(self.conn):
            return fn(self.conn)

    def loop(self, *, background: bool = False) -> tuple[Healer, Monitor]:
        """A healer and monitor bound to this Home (the CLI's `monitor` and `retrain`)."""
        loop = build_loop(
            self.settings,
            self.registry,
            read_conn=lambda: self.conn,
            write=self.write,
            background_retrain=background,
        )
        return loop.healer, loop.monitor

    def close(self) -> None:
        self.conn.close()
        self.registry.coordination.close()  # PostgreSQL: the registry's connection


@dataclass(frozen=True)
class Trained:
    version: str | None
    metrics: dict[str, Any]
    promoted: bool
    schema: FeatureSchema
    outcome: Any = None  # the gates' verdict when trained with challenge=True
    notes: tuple[str, ...] = ()  # warnings about the data, for the person training


def train_version(
    home: Home,
    *,
    data: Path | str | None = None,
    target: str | None = None,
    positive: str | None = None,
    schema_path: Path | str | None = None,
    categorical: Sequence[str] = (),
    classifier: str | None = None,
    seed: int | None = None,
    rows: int | None = None,
    promote: bool = False,
    actor: str = "cli",
    reason: str = "",
    trigger: str = "manual",
    challenge: bool = False,
    force: bool = False,
) -> Trained:
    """Train on a CSV (or fresh synthetic credit data), register, optionally promote.

    With a CSV, `schema_path` may declare some of its columns (the others are inferred) and
    `categorical` names columns to train as categories (see `datasets.load_frame`)."""
    s = home.settings
    seed = s.seed if seed is None else seed
    declared = FeatureSchema.from_file(schema_path) if schema_path else None
    notes: tuple[str, ...] = ()
    if data is None:
        if target is not None or positive is not None or categorical:
            from selfheal.errors import DataError

            raise DataError(
                "--target, --positive and --categorical need --data CSV",
                code="invalid_arguments",
            )
        frame, y, schema, source = synthetic_data(
            s, rows=s.bootstrap_rows if rows is None else rows, seed=seed, declared=declared
        )
    else:
        if target is None:
            from selfheal.errors import DataError

            raise DataError(
                "--data needs --target COLUMN naming the label column", code="invalid_arguments"
            )
        loaded = datasets.load_csv(
            data, target=target, positive=positive, schema=declared, categorical=categorical
        )
        frame, y = loaded.features, loaded.y
        schema = infer_schema(
            frame,
            target=target,
            positive=loaded.positive,
            negative=loaded.negative,
            declared=declared,
            names=list(frame.columns),
            formats=loaded.formats,
        )
        source = str(data)
        notes = loaded.notes
    trained = train_frame(
        home,
        frame,
        y,
        schema,
        source=source,
        classifier=classifier,
        seed=seed,
        promote=promote,
        actor=actor,
        reason=reason,
        trigger=trigger,
        challenge=challenge,
        force=force,
    )
    return replace(trained, notes=notes)


def train_frame(
    home: Home,
    frame: pd.DataFrame,
    y: np.ndarray,
    schema: FeatureSchema,
    *,
    source: str,
    classifier: str | None = None,
    seed: int | None = None,
    promote: bool = False,
    actor: str = "cli",
    reason: str = "",
    trigger: str = "manual",
    challenge: bool = False,
    force: bool = False,
) -> Trained:
    """`train_version` once the data is loaded: features `frame`, 0/1 target `y` and their
    `schema` (see `infer_schema`). `source` names the data in the registry. With `promote`,
    a feature set other than production's is refused before training unless `force`
    (`check_feature_change`)."""
    s = home.settings
    seed = s.seed if seed is None else seed
    if promote:
        check_feature_change(home.registry, schema.names, force=force, what="the new model")
    if challenge and home.registry.production() is None:  # say so before training
        from selfheal.errors import RegistryError

        raise RegistryError(
            f"--challenge needs a production model to challenge; run `{cli('init')}` first",
            code="no_production",
        )
    result = train(frame, y, schema, classifier=classifier or s.classifier, seed=seed)
    if challenge:
        healer, _ = home.loop()
        outcome = healer.challenge(result, schema, actor=actor, trigger="challenge")
        return Trained(
            version=outcome.version,
            metrics=result.metrics,
            promoted=outcome.status == "promoted",
            schema=schema,
            outcome=outcome,
        )
    version = register_trained(
        s,
        home.registry,
        result,
        y,
        schema,
        source=source,
        promote=promote,
        actor=actor,
        reason=reason,
        trigger=trigger,
    )
    return Trained(version=version, metrics=result.metrics, promoted=promote, schema=schema)


def bootstrap(home: Home, *, actor: str = "init") -> str | None:
    """Make sure a production model exists: train and promote v0001 on synthetic data when
    the registry has none. Returns the version created, or None when one already served."""
    return first_model(home.settings, home.registry, actor=actor)


def status(home: Home) -> dict[str, Any]:
    reg = home.registry
    pointer = reg.pointer()
    versions = reg.list()
    conn = home.conn
    out: dict[str, Any] = {
        "home": str(home.settings.home_path.resolve()),
        "database": (
            home.settings.database_label
            if home.settings.postgres
            else str(home.settings.db_path.resolve())
        ),
        "schema_version": db.schema_version(conn),
        "production": pointer,
        "versions": len(versions),
        "predictions": store.count_predictions(conn, None),
        "labels": store.traffic_counts(conn)["labels"],
        "recent_events": store.recent_events(conn, 5),
    }
    if pointer:
        meta = reg.meta(pointer["version"])
        out["production_metrics"] = meta.get("metrics")
    return out


def end_probation_by_hand(
    registry: Registry,
    write: Callable[[Callable[[db.Connection], Any]], Any],
    conn: db.Connection,
    *,
    event: str,
    actor: str,
) -> dict[str, Any] | None:
    """After a promotion or rollback by hand: an active probation no longer describes what
    serves, so it ends now, with that reason, and the shadow scoring it started stops
    (otherwise the server scored every request twice with the same model until the next
    monitor cycle, and the probation ended later as "production changed").

    Returns the ended probation's row, or None when there was none to end."""
    prob = store.active_probation(conn)
    production = registry.production()
    if prob is None or production == prob["version"]:
        return None
    reason = f"{event.replace('_', ' ')} to {production} by {actor}"
    write(
        lambda c: store.end_probation(
            c, prob["id"], status="ended", result={"reason": reason}, now=db.iso()
        )
    )
    if registry.shadow() == prob["previous_version"]:
        registry.set_shadow(
            None, actor=actor, reason=f"probation of {prob['version']} ended: {reason}"
        )
    return {**prob, "status": "ended", "reason": reason}


def feature_change(registry: Registry, names: list[str]) -> tuple[str, list[str], list[str]] | None:
    """`(production version, fields gained, fields lost)` when a model taking `names`
    would change what clients must send; None when it takes production's fields or nothing
    serves."""
    current = registry.production()
    if current is None:
        return None
    old = FeatureSchema.from_dict(registry.meta(current)["schema"]).names
    gained = [n for n in names if n not in old]
    lost = [n for n in old if n not in names]
    return (current, gained, lost) if gained or lost else None


def check_feature_change(
    registry: Registry, names: list[str], *, force: bool, what: str, action: str = "promote it"
) -> str | None:
    """Refuse (`schema_change`, 409) to put into production a model whose fields differ
    from production's, unless `force`: every client request shaped for the old fields would
    get 422. The same rule holds for a promotion and a rollback (`action` says which, for
    the message). With `force`, returns the sentence to warn with; None when nothing
    changes."""
    change = feature_change(registry, names)
    if change is None:
        return None
    current, gained, lost = change
    text = (
        f"{what} takes other fields than production {current}: clients would have to add "
        f"{', '.join(gained) or 'nothing'} and drop {', '.join(lost) or 'nothing'}, and "
        f"every request shaped for {current} would get 422"
    )
    if not force:
        from selfheal.errors import ConflictError

        raise ConflictError(
            text + f'; pass --force (API: "force": true) to {action} anyway',
            code="schema_change",
            details={"production": current, "added": gained, "removed": lost},
        )
    return text


def rollback_check(
    registry: Registry, *, force: bool, warnings: list[str]
) -> Callable[[str], None]:
    """The `check` of `Registry.rollback`: a rollback to a version whose fields differ from
    production's is refused like such a promotion (`check_feature_change`), unless `force`;
    a forced one appends its warning to `warnings`."""

    def check(target: str) -> None:
        warning = check_feature_change(
            registry,
            version_names(registry, target),
            force=force,
            what=target,
            action="roll back",
        )
        if warning:
            warnings.append(warning)

    return check


def version_names(registry: Registry, version: str) -> list[str]:
    """The feature names `version` takes (from its meta.json; the name is validated)."""
    return FeatureSchema.from_dict(registry.meta(version)["schema"]).names


COMPARE_ROWS = 500  # the newest labeled rows every version is scored on by `compare_live`
COMPARE_VERSIONS = 12  # the newest versions compared (production always is)


def compare_live(
    home: Home, versions: Sequence[str], *, rows: int = COMPARE_ROWS
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Every version's metrics on the SAME newest labeled rows, for a fair comparison.

    Each version's holdout metrics come from its own test split, so an older version
    judged on easier data looks better than the one that replaced it. Here the newest
    `rows` labeled rows (production and external) are scored by each of `versions` (at most
    `COMPARE_VERSIONS`, the newest first, production always included) at its own threshold.
    Returns `(n_rows, {version: {"n", "f1", "auc", "brier"}})`; a version whose features
    differ from the rows' is scored on the rows logged with its features, and one with none
    such is left out. Metrics are None where undefined (one class: see `labeled_metrics`).
    """
    from selfheal.frames import matching_rows, rows_to_frame
    from selfheal.performance import labeled_metrics

    labeled = store.labeled_rows(home.conn, limit=rows)
    if not labeled:
        return 0, {}
    production = home.registry.production()
    chosen = sorted(versions, key=lambda v: int(v[1:]), reverse=True)[:COMPARE_VERSIONS]
    if production is not None and production in versions and production not in chosen:
        chosen.append(production)
    out: dict[str, dict[str, Any]] = {}
    for version in chosen:
        try:
            model = home.registry.load(version)
        except Exception:  # a broken artifact is `models`' verify column's business
            continue
        mine = matching_rows(labeled, model.schema)
        if not mine:
            continue
        frame = rows_to_frame(mine, model.schema)
        p = model.predict_proba(model.schema.frame_to_matrix(frame))
        y = np.array([r["label"] for r in mine], dtype=np.int64)
        m = labeled_metrics(y, p, model.threshold).to_dict()
        out[version] = {k: m[k] for k in ("n", "f1", "auc", "brier")}
    return len(labeled), out
