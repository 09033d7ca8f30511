"""Every SQL query of docs/runbook.md's "SQL: reading the database" runs, on SQLite and on
PostgreSQL, and both variants of a query answer alike.

The runbook gives each query for `sqlite3` and, in the block right after it (first line
`-- PostgreSQL (psql)`), for `psql`; a block whose first line is `-- SQLite and PostgreSQL`
serves both as it is. Both databases are filled the same way through the real code: a home
bootstrapped by `selfheal.home.bootstrap`, a started Service, traffic and labels through
POST /predict, POST /monitoring/labels and POST /monitoring/predictions, and monitor cycles
(`run_once(now=...)`) through a concept change (one retrain rejected, one promoted, then a
probation with shadow scoring), one failing cycle and a covariate shift.

Column names and row counts are always compared, values wherever they are deterministic:
not what the wall clock decides (`CLOCK`, `CLOCK_IN`), and tied rows as sets (`TIES`).
Numbers are compared as floats (PostgreSQL answers `numeric` where SQLite answers REAL, and
text for `->>` and `to_char`), JSON text parsed. A NULL p_adjusted (a feature with no value
in the window) stays NULL on both: SQLite's `printf('%.3g', NULL)` would print '0', so the
SQLite queries guard it with a CASE.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from selfheal import datasets
from selfheal.db import utcnow
from selfheal.home import Home, bootstrap
from selfheal.service import Service
from selfheal.web import create_app
from tests.conftest import ROOT, make_settings

RUNBOOK = ROOT / "docs" / "runbook.md"
SECTION = "## SQL: reading the database"
PG_ONLY = "-- PostgreSQL (psql)"
BOTH = "-- SQLite and PostgreSQL"


# -- the documented queries ------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the opening ```sql in docs/runbook.md
    title: str  # the paragraph just above the block
    text: str

    @property
    def kind(self) -> str:
        first = self.text.lstrip().split("\n", 1)[0].strip()
        return {PG_ONLY: "postgres", BOTH: "both"}.get(first, "sqlite")

    @property
    def statements(self) -> list[str]:
        """The block split on `;` at line ends (the queries hold no such `;` inside)."""
        parts = re.split(r";[ \t]*$", self.text, flags=re.MULTILINE)
        return [p.strip() for p in parts if p.strip()]


@dataclass(frozen=True)
class Query:
    """One documented query: its SQLite text and its PostgreSQL text (the same text for a
    `-- SQLite and PostgreSQL` block)."""

    sqlite: Block
    postgres: Block

    @property
    def name(self) -> str:
        return f"runbook.md:{self.sqlite.line} ({self.sqlite.title[:60]})"


def section_lines() -> tuple[int, list[str]]:
    """(index of the section's first line, its lines): up to the next `## ` heading."""
    lines = RUNBOOK.read_text(encoding="utf-8").split("\n")
    start = lines.index(SECTION)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return start, lines[start:end]


def sql_blocks() -> list[Block]:
    start, lines = section_lines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```sql":
            j = i + 1
            while lines[j].strip() != "```":
                j += 1
            k = i - 1
            while k > 0 and not lines[k].strip():
                k -= 1
            para: list[str] = []
            while k > 0 and lines[k].strip() and not lines[k].startswith("```"):
                para.insert(0, lines[k].strip())
                k -= 1
            title = " ".join(para)
            blocks.append(Block(start + i + 1, title, "\n".join(lines[i + 1 : j])))
            i = j
        i += 1
    return blocks


def queries() -> list[Query]:
    """Pairs each SQLite block with the PostgreSQL block right after it."""
    blocks = sql_blocks()
    out: list[Query] = []
    for k, b in enumerate(blocks):
        if b.kind == "both":
            out.append(Query(b, b))
        elif b.kind == "sqlite":
            nxt = blocks[k + 1] if k + 1 < len(blocks) else None
            assert nxt is not None and nxt.kind == "postgres", (
                f"runbook.md:{b.line}: a SQLite-only block must be followed by its "
                f"'{PG_ONLY}' variant"
            )
            out.append(Query(b, nxt))
        else:
            prev = blocks[k - 1] if k else None
            assert prev is not None and prev.kind == "sqlite", (
                f"runbook.md:{b.line}: a '{PG_ONLY}' block must follow the SQLite block it "
                "translates"
            )
    return out


def test_every_sqlite_query_has_a_postgresql_variant() -> None:
    qs = queries()
    assert len(qs) >= 20
    for q in qs:
        assert len(q.sqlite.statements) == len(q.postgres.statements), q.name
    _, lines = section_lines()
    intro = "\n".join(lines[: lines.index("### predictions and labels")])
    assert "sqlite3 " in intro and 'psql "$SELFHEAL_DATABASE_URL"' in intro
    assert "\\x auto" in intro


# -- the same content on both backends ------------------------------------------------------
class Clock:
    def __init__(self) -> None:
        self.t = utcnow() + timedelta(minutes=1)

    def tick(self, minutes: float = 1.0) -> datetime:
        self.t += timedelta(minutes=minutes)
        return self.t


def send(svc: Service, frame: Any, *, labels: bool = True) -> list[str]:
    """Score `frame` through POST /predict, label it through POST /monitoring/labels."""
    client = create_app(svc).test_client()
    ids: list[str] = []
    for start in range(0, len(frame), 500):
        part = frame.iloc[start : start + 500]
        records = [{k: float(r[k]) for k in datasets.FEATURES} for _, r in part.iterrows()]
        resp = client.post("/predict", json={"instances": records})
        assert resp.status_code == 200, resp.get_data(as_text=True)
        batch = [p["prediction_id"] for p in resp.get_json()["predictions"]]
        ids += batch
        if labels:
            body = {
                "labels": [
                    {"prediction_id": i, "label": int(y)}
                    for i, y in zip(batch, part["default"], strict=True)
                ]
            }
            r = client.post("/monitoring/labels", json=body)
            assert r.get_json()["counts"] == {"created": len(batch)}
    return ids


def fill(home: Home) -> None:
    """Traffic, labels and monitor cycles through the real service."""
    settings = home.settings.replace(
        admin_token="s3cret",
        # The latency check times two models on this (shared) machine: it must not decide.
        gate_max_latency_ratio=1000.0,
        # The first retrain is rejected: it would have to show a gain no challenger shows.
        gate_min_f1_gain=0.9,
    )
    svc = Service(settings)
    svc.start(monitor=False)
    svc.monitor.background_retrain = False  # the retrain runs inside the cycle
    try:
        clock = Clock()
        client = create_app(svc).test_client()
        send(svc, datasets.generate(1000, seed=11))
        assert svc.monitor.run_once(now=clock.tick())["decision"] == "none"
        send(svc, datasets.generate(2000, seed=12, drift="concept"))
        assert svc.monitor.run_once(now=clock.tick())["decision"] == "retrain"  # rejected
        relaxed = settings.replace(gate_min_f1_gain=home.settings.gate_min_f1_gain)
        svc.settings = svc.monitor.settings = svc.healer.settings = relaxed
        send(svc, datasets.generate(300, seed=13, drift="concept"))
        assert svc.monitor.run_once(now=clock.tick())["decision"] == "retrain"  # promoted
        runs = svc.read_conn().execute("SELECT status FROM retrain_runs ORDER BY id")
        assert [r[0] for r in runs] == ["rejected", "promoted"]
        # A failing cycle: the new production model's reference sketch was modified.
        sketch = svc.registry.sketch_path(svc.registry.production())
        original = sketch.read_bytes()
        sketch.chmod(0o644)
        sketch.write_bytes(original[:-10])
        assert svc.monitor.run_once(now=clock.tick())["status"] == "error"
        sketch.write_bytes(original)
        # Probation: the new model serves, its predecessor scores the same rows in shadow.
        send(svc, datasets.generate(150, seed=14, drift="concept"))
        # Predictions another system served (role `external`), labeled too.
        frame = datasets.generate(20, seed=15, drift="covariate")
        items = [
            {
                "prediction_id": f"ext-{i}",
                "model_version": "partner-1",
                "probability": round(0.05 * i, 2),
                "features": {k: float(r[k]) for k in datasets.FEATURES},
            }
            for i, (_, r) in enumerate(frame.iterrows())
        ]
        resp = client.post("/monitoring/predictions", json={"predictions": items})
        assert resp.status_code == 201, resp.get_data(as_text=True)
        labels = [
            {"prediction_id": f"ext-{i}", "label": int(y)} for i, y in enumerate(frame["default"])
        ]
        resp = client.post("/monitoring/labels", json={"labels": labels})
        assert resp.get_json()["counts"] == {"created": 20}, resp.get_data(as_text=True)
        # A covariate shift, unlabeled: out-of-range values and drifted features.
        send(svc, datasets.generate(300, seed=16, drift="covariate"), labels=False)
        assert svc.monitor.run_once(now=clock.tick())["status"] == "drift"
    finally:
        svc.stop()


def filled_home(path: Path, **extra: Any) -> Home:
    """A new home, v0001 trained and promoted by `selfheal.home.bootstrap`, then filled.
    The classifier is logistic regression (a retrain inherits its champion's classifier):
    two retrains in a second each instead of ten with gradient boosting."""
    home = Home(make_settings(path, bootstrap_rows=2000, classifier="logreg", **extra))
    try:
        bootstrap(home)
        fill(home)
    finally:
        home.close()
    return home


# -- running the queries ---------------------------------------------------------------------
@dataclass
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    error: str | None = None


def run_sqlite(path: Path, statements: list[str]) -> list[Result]:
    out = []
    conn = sqlite3.connect(path)
    try:
        for sql in statements:
            try:
                cur = conn.execute(sql)
                out.append(Result([d[0] for d in cur.description or []], cur.fetchall()))
            except sqlite3.Error as exc:
                out.append(Result([], [], f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()
    return out


def run_postgres(url: str, statements: list[str]) -> list[Result]:
    import psycopg

    out = []
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in statements:
            try:
                cur = conn.execute(sql)  # no parameters: psql sends the text as it is
                out.append(Result([d.name for d in cur.description or []], cur.fetchall()))
            except psycopg.Error as exc:
                out.append(Result([], [], f"{type(exc).__name__}: {exc}"))
    return out


Results = dict[str, list[Result]]


@pytest.fixture(scope="module")
def sqlite_results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    home = filled_home(tmp_path_factory.mktemp("runbook-sqlite") / "home")
    return {q.name: run_sqlite(home.settings.db_path, q.sqlite.statements) for q in queries()}


@pytest.fixture(scope="module")
def postgres_results(
    pg_cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Results]:
    url = pg_cluster.create_database()
    try:
        filled_home(tmp_path_factory.mktemp("runbook-pg") / "home", database_url=url)
        yield {q.name: run_postgres(url, q.postgres.statements) for q in queries()}
    finally:
        pg_cluster.drop_database(url)


def failures(results: Results) -> list[str]:
    return [
        f"{name} statement {i + 1}: {r.error}"
        for name, rs in results.items()
        for i, r in enumerate(rs)
        if r.error
    ]


def test_every_sqlite_statement_runs(sqlite_results: Results) -> None:
    assert not failures(sqlite_results), "\n".join(failures(sqlite_results))
    # The content reaches every table the queries read: most answers have rows.
    empty = [n for n, rs in sqlite_results.items() if any(not r.rows for r in rs)]
    assert len(empty) <= 1, empty  # no retrain failed, none is left running


def test_every_postgresql_statement_runs(postgres_results: Results) -> None:
    assert not failures(postgres_results), "\n".join(failures(postgres_results))


# -- comparing the answers -------------------------------------------------------------------
# The two homes are filled one after the other, so the wall clock tells their times apart,
# and what is computed from times or timings. These columns are compared by name and count,
# not by value:
CLOCK = {
    "hour",  # substr(created_at, ...): the buckets themselves are compared by their totals
    "day",
    "first",
    "last",
    "created_at",
    "started_at",
    "ended_at",
    "cooldown_start",
    "seconds_ago",
    "avg_label_delay_s",
    "avg_latency_ms",
    "max_latency_ms",
    "latency_ratio",  # the consistency gate times both models
}
# ... and these only in the queries named: a gate's reason quotes the timings it measured.
CLOCK_IN = {"Why the last retrain was rejected": {"reason"}}
# Where the ORDER BY leaves ties, each backend orders the tied rows its own way: compare
# them as sets (the gates that never failed, here).
TIES = {"Which gate rejects most often": "failed"}


def normal(v: Any) -> Any:
    """A value as both backends can agree on it: numbers as floats (PostgreSQL answers
    `numeric` for ROUND, text for `->>` and `to_char`, where SQLite answers REAL), JSON text
    parsed (jsonb prints its own spacing and key order)."""
    if isinstance(v, (int, float, Decimal)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        text = v.strip()
        if text[:1] in ("{", "["):
            try:
                return normal(json.loads(text))
            except ValueError:
                return v
        try:
            return float(text)
        except ValueError:
            return v
    if isinstance(v, dict):
        return {k: normal(x) for k, x in v.items()}
    if isinstance(v, list):
        return [normal(x) for x in v]
    return v


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def untie(rows: list[tuple[Any, ...]], key: int) -> list[tuple[Any, ...]]:
    """`rows` in their order, but the rows of each run of equal `key` sorted."""
    runs: list[list[tuple[Any, ...]]] = []
    for r in rows:
        if runs and normal(runs[-1][0][key]) == normal(r[key]):
            runs[-1].append(r)
        else:
            runs.append([r])
    return [r for run in runs for r in sorted(run, key=lambda r: repr(normal(list(r))))]


def differences(name: str, lite: Result, pg: Result) -> list[str]:
    if lite.columns != pg.columns:
        return [f"{name}: columns {lite.columns} on SQLite, {pg.columns} on PostgreSQL"]
    varies = CLOCK.union(*(cols for key, cols in CLOCK_IN.items() if key in name))
    if lite.columns and lite.columns[0] in ("hour", "day") and len(lite.rows) != len(pg.rows):
        # One home's traffic straddled an hour (or midnight): compare the totals.
        total = lite.columns.index("predictions")
        if sum(r[total] for r in lite.rows) == sum(r[total] for r in pg.rows):
            return []
        return [f"{name}: {lite.rows} on SQLite, {pg.rows} on PostgreSQL"]
    if len(lite.rows) != len(pg.rows):
        return [f"{name}: {len(lite.rows)} rows on SQLite, {len(pg.rows)} on PostgreSQL"]
    lite_rows, pg_rows = lite.rows, pg.rows
    for key, col in TIES.items():
        if key in name:
            lite_rows, pg_rows = (
                untie(lite_rows, lite.columns.index(col)),
                untie(pg_rows, lite.columns.index(col)),
            )
    out = []
    for i, (x, y) in enumerate(zip(lite_rows, pg_rows, strict=True)):
        for col, u, v in zip(lite.columns, x, y, strict=True):
            if col not in varies and not same(normal(u), normal(v)):
                out.append(f"{name} row {i + 1} {col}: {u!r} on SQLite, {v!r} on PostgreSQL")
    return out


def test_both_variants_of_every_query_answer_alike(
    sqlite_results: Results, postgres_results: Results
) -> None:
    problems = []
    compared = 0
    for q in queries():
        for k, (lite, pg) in enumerate(
            zip(sqlite_results[q.name], postgres_results[q.name], strict=True)
        ):
            if lite.error or pg.error:
                continue  # reported by the two tests above
            problems += differences(f"{q.name} statement {k + 1}", lite, pg)
            compared += 1
    assert not problems, "\n".join(problems)
    assert compared == sum(len(q.sqlite.statements) for q in queries())
