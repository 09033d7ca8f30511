"""Mutation testing of the decision modules with mutmut (`make mutation`, issue 16).

Each module is mutated in its own copy of the tree under build/mutation/<module>/, with a
`[mutmut]` section that mutates only that module (selfheal/<module>.py, or every file of the
package selfheal/<module>/ but its __init__.py) and runs only its matching test files (mutmut
then runs, for each mutant, the tests that reach the mutated function). The work tree is never
touched. The score of a module is

    killed / (mutants - accepted equivalent mutants),

timeouts counting as killed. Accepted equivalent mutants are listed, each with a one-line
reason, in tools/mutation_equivalents/<module>.txt (every .txt there is read); a listed
mutant that is no longer a survivor is reported as stale. Not part of `make test`: one
module takes minutes.

PostgreSQL: the selections of the modules in PG_MODULES (writer, registry) hold tests that
need a real cluster (`_reconnect_if_broken`, `PgCoordination`). mutmut starts a new pytest
session for every mutant, and conftest's session fixture `pg_cluster` would run initdb in
each. So a run that includes such a module starts ONE cluster (tests/pgcluster.py) first,
passes its address (host, port, superuser, binaries and data folder, as JSON) to mutmut and
its pytest sessions in the environment variable SELFHEAL_TEST_PG_CLUSTER, and stops it when
the run ends (also on an error or Ctrl-C). With that variable set, `pg_cluster` attaches to
the running cluster instead of starting one and leaves it running; every test works in a
database of its own, so mutants run in parallel (--jobs) do not meet. Without PostgreSQL
binaries (or psycopg) the run goes on without a cluster, says so, and those tests skip: their
mutants then count as not killed (as they do when the cluster fails to start). Tests that
restart or stop the cluster are kept out of the selections.

Usage: python tools/mutation.py [MODULE ...] [--jobs N]   (default: every module below)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutation"
EQUIVALENTS = ROOT / "tools" / "mutation_equivalents"  # one <module>.txt per module
GOAL = 0.90

# module (selfheal/<module>.py or the package selfheal/<module>/) -> the test files that judge it
MODULES: dict[str, list[str]] = {
    "gates": [
        "tests/test_gates.py",
        "tests/test_boundaries_verdicts.py",
        "tests/test_gates_mutation.py",
    ],
    "binary_metrics": [
        "tests/test_binary_metrics.py",
        "tests/test_gates.py",
        "tests/test_performance.py",
        "tests/test_binary_metrics_mutation.py",
    ],
    "drift": ["tests/test_drift.py", "tests/test_boundaries_verdicts.py"],
    "stats": ["tests/test_stats.py", "tests/test_stats_mutation.py"],
    "policy": ["tests/test_policy.py", "tests/test_boundaries_verdicts.py"],
    "schema": [
        "tests/test_schema.py",
        "tests/test_schema_mutation.py",
        # the frame and bound checks of test_boundaries_storage, not its trained-home tests
        "tests/test_boundaries_storage.py::"
        "test_frame_validation_refuses_a_boolean_column_declared_numeric",
        "tests/test_boundaries_storage.py::test_schema_accepts_a_value_equal_to_a_hard_bound",
        "tests/test_boundaries_storage.py::test_schema_refuses_a_value_just_beyond_a_hard_bound",
    ],
    # Both files hold PostgreSQL tests (conftest's pg_url: a database of their own, no model
    # trained): PgCoordination, and the writer's reconnection after the server ended its
    # session. tests/test_postgres.py is not selected: each of its tests that reaches
    # PgCoordination uses trained_home_any[postgres], whose session fixture
    # _pg_trained_template bootstraps (trains) a model in every mutant's session, and the
    # only one that reaches _reconnect_if_broken restarts the cluster the mutants share.
    "registry": ["tests/test_registry_mutation.py"],
    "writer": ["tests/test_writer_mutation.py"],
}
# Modules whose selection needs a PostgreSQL cluster: one is shared by the whole run.
PG_MODULES = frozenset({"writer", "registry"})
PG_ENV = "SELFHEAL_TEST_PG_CLUSTER"  # tests/pgcluster.py's ENV_VAR, read by tests/conftest.py

# mutmut's exit-code meaning (mutmut.stats.status_by_exit_code), reduced to what we count
KILLED = {1, 3, -24, 24, 152, 255, 36, -11, -9}  # failed tests, timeouts and crashes
SURVIVED = {0}
NO_TESTS = {5, 33}


def equivalents() -> dict[str, str]:
    """`mutant-name  reason` lines; blank lines and # comments ignored."""
    out: dict[str, str] = {}
    for path in sorted(EQUIVALENTS.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                name, _, reason = line.partition(" ")
                out[name] = reason.strip()
    return out


def sources(module: str) -> list[str]:
    """The files mutated for `module`: the module, or each file of the package of that name."""
    package = ROOT / "selfheal" / module
    if package.is_dir():
        return sorted(
            f"selfheal/{module}/{path.name}"
            for path in package.glob("*.py")
            if path.name != "__init__.py"
        )
    return [f"selfheal/{module}.py"]


def prepare(module: str, tests: list[str]) -> Path:
    where = WORK / module
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("selfheal", "tests", "migrations"):
        shutil.copytree(ROOT / folder, where / folder, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", where / "pyproject.toml")
    selection = "".join(f"\n    {t}" for t in tests)
    mutated = "".join(f"\n    {path}" for path in sources(module))
    config = (ROOT / "setup.cfg").read_text(encoding="utf-8")
    config += (
        "\n[mutmut]\nsource_paths = selfheal\n"
        f"only_mutate ={mutated}\n"
        f"pytest_add_cli_args_test_selection ={selection}\n"
        "also_copy = migrations\n"
        "use_git_change_detection = false\n"
    )
    (where / "setup.cfg").write_text(config, encoding="utf-8")
    return where


PG_NOTE = (
    "the PostgreSQL tests of " + ", ".join(sorted(PG_MODULES)) + " skip, and the mutants only "
    "they reach (PgCoordination, Writer._reconnect_if_broken) count as not killed"
)


def start_cluster() -> Any | None:
    """One PostgreSQL cluster for the whole run (tests/pgcluster.py), or None with a note
    where none can run here. The caller stops it (`Cluster.stop`)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        from tests.pgcluster import SKIP_REASON, Cluster, find_bin
    except ImportError as exc:  # psycopg (the postgres extra) is missing
        print(f"note: no PostgreSQL cluster for the mutation run ({exc}); {PG_NOTE}")
        return None
    bindir = find_bin()
    if bindir is None:
        print(f"note: {SKIP_REASON}; {PG_NOTE}")
        return None
    cluster = Cluster(bindir)
    try:
        cluster.start()
    except RuntimeError as exc:  # initdb or pg_ctl failed: see the message
        try:
            cluster.stop()  # a server that came up after all; the folder goes in any case
        except RuntimeError:
            pass
        print(f"note: the PostgreSQL cluster did not start ({exc}); {PG_NOTE}")
        return None
    print(f"PostgreSQL cluster for the run: {cluster.url()} (data in {cluster.base})")
    return cluster


def run(
    module: str, jobs: int, accepted: dict[str, str], cluster: Any | None = None
) -> dict[str, object]:
    where = prepare(module, MODULES[module])
    t0 = time.monotonic()
    log = where / "mutmut.log"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    env.pop(PG_ENV, None)
    if cluster is not None and module in PG_MODULES:
        env[PG_ENV] = cluster.address()
    with log.open("w") as fh:
        code = subprocess.call(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)],
            cwd=where,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
    metas = [where / "mutants" / f"{path}.meta" for path in sources(module)]
    if code != 0 or not any(meta.is_file() for meta in metas):
        raise SystemExit(f"mutmut failed on {module} (exit {code}); see {log}")
    by_key: dict[str, int | None] = {}
    for meta in metas:
        if meta.is_file():  # a file without a function to mutate has no meta
            by_key.update(json.loads(meta.read_text())["exit_code_by_key"])
    survivors = sorted(k for k, v in by_key.items() if v in SURVIVED)
    counts = Counter(
        "killed"
        if v in KILLED
        else "survived"
        if v in SURVIVED
        else "no_tests"
        if v in NO_TESTS
        else "other"
        for v in by_key.values()
    )
    prefix = f"selfheal.{module}."
    equivalent = [k for k in survivors if k in accepted]
    stale = [k for k in accepted if k.startswith(prefix) and k not in survivors]
    judged = len(by_key) - len(equivalent)
    score = counts["killed"] / judged if judged else 1.0
    (where / "survivors.txt").write_text(
        "".join(f"{k}\n" for k in survivors if k not in accepted), encoding="utf-8"
    )
    return {
        "module": module,
        "mutants": len(by_key),
        "killed": counts["killed"],
        "survived": counts["survived"] - len(equivalent),
        "equivalent": len(equivalent),
        "no_tests": counts["no_tests"],
        "other": counts["other"],
        "score": round(score, 4),
        "seconds": round(time.monotonic() - t0, 1),
        "stale_equivalents": stale,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=", ".join(MODULES))
    parser.add_argument("--jobs", type=int, default=1, help="mutants run in parallel")
    parser.add_argument("--strict", action="store_true", help=f"exit 1 below {GOAL:.0%}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.modules) - set(MODULES))
    if unknown:
        parser.error(f"unknown module(s) {unknown}; choose from {', '.join(MODULES)}")
    accepted = equivalents()
    modules = args.modules or list(MODULES)
    cluster = start_cluster() if PG_MODULES.intersection(modules) else None
    try:
        results = [run(m, args.jobs, accepted, cluster) for m in modules]
    finally:
        if cluster is not None:
            cluster.stop()
    print(f"{'module':<10} {'mutants':>7} {'killed':>7} {'survived':>8} {'equiv':>6} {'score':>7}")
    for r in results:
        print(
            f"{r['module']:<10} {r['mutants']:>7} {r['killed']:>7} {r['survived']:>8} "
            f"{r['equivalent']:>6} {r['score']:>7.1%}  ({r['seconds']} s)"
        )
        for name in r["stale_equivalents"]:  # type: ignore[attr-defined]
            print(f"  stale equivalent (no longer a survivor): {name}")
    print(f"survivors: {WORK}/<module>/survivors.txt; show one with `mutmut show NAME` there")
    (WORK / "summary.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    below = [str(r["module"]) for r in results if float(r["score"]) < GOAL]  # type: ignore[arg-type]
    if below:
        print(f"below the {GOAL:.0%} goal: {', '.join(below)}")
    return 1 if below and args.strict else 0


if __name__ == "__main__":
    raise SystemExit(main())
