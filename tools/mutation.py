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
    "registry": ["tests/test_registry_mutation.py"],
    "writer": ["tests/test_writer_mutation.py"],
}

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


def run(module: str, jobs: int, accepted: dict[str, str]) -> dict[str, object]:
    where = prepare(module, MODULES[module])
    t0 = time.monotonic()
    log = where / "mutmut.log"
    with log.open("w") as fh:
        code = subprocess.call(
            [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs)],
            cwd=where,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"},
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
    results = [run(m, args.jobs, accepted) for m in (args.modules or list(MODULES))]
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
