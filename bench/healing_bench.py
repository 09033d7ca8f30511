"""Healing benchmark: does selfheal heal on drifting streams it does not own?

For every stream of ``bench/streams.py`` (real data shipped inside PyPI wheels, River's
concept-drift generators, and the project's own credit world) the bench

1. writes the stream to ``bench/.cache/streams/NAME-seedN.csv`` (or reuses it), so that the
   same file replays by hand with ``selfheal replay --data FILE --target COL``;
2. replays it with ``selfheal.replay.replay``: ``v0001`` is trained on the first 3,000
   rows, the rest is served in batches of 100 rows through the real service, each row
   scored before its label is posted (test, then train), a monitor cycle every
   ``SELFHEAL_MONITOR_INTERVAL`` seconds of injected time (1 row = 1 second; checked after
   each batch, so with the defaults one cycle per 100-row batch), retrains
   behind the four gates, probation and rollback, all with the project's default settings
   (``--set NAME=VALUE`` overrides one);
3. puts two references beside the served scores, on the same rows: the **frozen** first
   model (``v0001`` never replaced: no healing) and, for every change, an offline
   **ceiling**: ``selfheal.training.train`` (the default classifier and seed, the schema
   inferred as ``selfheal train`` does) on the first 1,000 rows from which the new concept
   holds, scored on the rest of that concept's rows.

"after" figures are measured on the ceiling's scoring rows (the concept's rows from its
1,001st on), "before" figures on the streamed rows before the first change. The targets,
per stream:

* after every change: served AUC within 0.05 of the ceiling;
* before the first change: served AUC no worse than frozen minus 0.01;
* no request refused.

Tables go to stdout (Markdown), progress to stderr; ``--json`` prints one JSON document
instead (per stream: the references, segments, every event and monitor cycle) and
``--from-json FILE`` reports a saved one without replaying; ``--strict`` exits 1 when a
target fails or a stream could not run. ``--write-docs`` replaces the generated block of
the section "Healing on drifting streams" in docs/performance.md (text around it is kept).
``--jobs 2`` replays two streams at a time (wall times then include the contention);
``--keep-homes DIR`` keeps each replay's database and registry for ``sqlite3``.

River and pyarrow are benchmark-only dependencies (``bench/requirements-healing.txt``);
``--setup-venv`` creates ``bench/.venv-healing`` with them and the project. The script also
runs under the project's venv: streams whose CSV is cached need neither.

Usage::

    python3 bench/healing_bench.py --setup-venv                 # once
    bench/.venv-healing/bin/python bench/healing_bench.py       # every stream
    bench/.venv-healing/bin/python bench/healing_bench.py --list
    bench/.venv-healing/bin/python bench/healing_bench.py --stream sea-abrupt --json
    bench/.venv-healing/bin/python bench/healing_bench.py --set cooldown_seconds=600
    bench/.venv-healing/bin/python bench/healing_bench.py --no-replay   # references only
    bench/.venv-healing/bin/python bench/healing_bench.py --jobs 2 --json > healing.json
    bench/.venv-healing/bin/python bench/healing_bench.py --from-json healing.json --write-docs
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "bench" / ".venv-healing"
REQUIREMENTS = ROOT / "bench" / "requirements-healing.txt"


def setup_venv(venv: Path = VENV) -> int:
    """Create `venv` with the project (editable) and bench/requirements-healing.txt."""
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"creating {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    cmd = [str(py), "-m", "pip", "install", "--quiet", "-e", str(ROOT), "-r", str(REQUIREMENTS)]
    print("$ " + " ".join(cmd), file=sys.stderr)
    res = subprocess.run(cmd)
    if res.returncode == 0:
        print(f"ready: {py} bench/healing_bench.py", file=sys.stderr)
    return res.returncode


if __name__ == "__main__" and "--setup-venv" in sys.argv[1:]:
    # Before the imports below: the interpreter that creates the venv may have no NumPy.
    raise SystemExit(setup_venv())

# As run.py does: idle OpenMP workers sleep instead of spinning (a retrain's HGB fits
# share the 2 cores with the replay and, with --jobs 2, with another stream).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import streams as st  # noqa: E402

from selfheal import datasets  # noqa: E402
from selfheal.config import Settings  # noqa: E402
from selfheal.schema import infer_schema  # noqa: E402
from selfheal.training import scores, train  # noqa: E402

SECTION = "## Healing on drifting streams"
BEGIN = "<!-- healing-bench:begin (generated by bench/healing_bench.py --write-docs) -->"
END = "<!-- healing-bench:end -->"

CEILING_ROWS = 1000  # the ceiling trains on this many rows from the change's stable row
MAX_GAP = 0.05  # after a change: served AUC >= ceiling AUC - MAX_GAP
BEFORE_SLACK = 0.01  # before the change: served AUC >= frozen AUC - BEFORE_SLACK


# ----------------------------------------------------------------------------- set-up


def parse_sets(items: list[str]) -> dict[str, str]:
    """`--set NAME=VALUE` -> {"SELFHEAL_NAME": "VALUE"} (NAME as in config.py or the env)."""
    env: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise SystemExit(f"healing_bench: --set needs NAME=VALUE, got {item!r}")
        key = name.upper() if name.upper().startswith("SELFHEAL_") else "SELFHEAL_" + name.upper()
        if key == "SELFHEAL_HOME":
            raise SystemExit("healing_bench: the home is a temporary folder per stream")
        env[key] = value.strip()
    return env


def make_settings(home: Path, env: dict[str, str]) -> Settings:
    return Settings.load(environ=env, env_file=os.devnull, home=str(home))


# ----------------------------------------------------------------------------- metrics


def auc(y: np.ndarray, p: np.ndarray | None) -> float | None:
    if p is None:
        return None
    from sklearn.metrics import roc_auc_score

    ok = ~np.isnan(p)
    y, p = y[ok], p[ok]
    if len(y) == 0 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, p))


def fit_and_score(
    features: pd.DataFrame,
    y: np.ndarray,
    fit: tuple[int, int],
    score: tuple[int, int],
    loaded: datasets.LoadedData,
    settings: Settings,
) -> np.ndarray:
    """A model of the served kind trained on rows `fit`, its scores on rows `score`."""
    frame = features.iloc[fit[0] : fit[1]].reset_index(drop=True)
    schema = infer_schema(frame, target=loaded.target, positive=loaded.positive)
    result = train(
        frame, y[fit[0] : fit[1]], schema, classifier=settings.classifier, seed=settings.seed
    )
    X = schema.frame_to_matrix(features.iloc[score[0] : score[1]].reset_index(drop=True))
    return scores(result.pipeline, X)


def f3(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def signed(v: float | None) -> str:
    return "-" if v is None else f"{v:+.3f}"


# ----------------------------------------------------------------------------- one stream


def run_stream(stream: st.Stream, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    out: dict[str, Any] = {"stream": describe(stream)}
    try:
        path = st.ensure_csv(stream, rebuild=args.rebuild)
    except st.Unavailable as exc:
        out["skipped"] = str(exc)
        return out
    out["stream"]["csv"] = str(path.relative_to(ROOT))
    out["stream"]["sha256"] = st.sha256_file(path)
    out["stream"]["command"] = cli_command(stream, path, args, env)
    frame = datasets.read_csv(path)  # exactly what `selfheal replay --data` reads
    loaded = datasets.load_frame(frame, target=stream.target, source=str(path))
    features, y = loaded.features, np.asarray(loaded.y, dtype=np.int64)
    tr = stream.train_rows
    with tempfile.TemporaryDirectory(prefix="healing-bench-") as tmp:
        home = Path(tmp) / "home"
        if args.keep_homes:
            home = Path(args.keep_homes) / stream.stem
            if home.exists():
                raise SystemExit(f"healing_bench: {home} exists; pick another --keep-homes")
            home.parent.mkdir(parents=True, exist_ok=True)
        settings = make_settings(home, env)

        # The references, each trained as the service trains.
        t0 = time.monotonic()
        concepts = stream.concepts()
        ceilings: dict[int, np.ndarray] = {}
        for i, c in enumerate(concepts[1:], start=1):
            fit = (c["start"], c["start"] + CEILING_ROWS)
            if c["end"] - fit[1] < 200:
                raise RuntimeError(f"{stream.name}: concept {i} leaves < 200 rows to score")
            log(f"[{stream.name}] ceiling {i}: train rows {fit[0]}-{fit[1] - 1}")
            ceilings[i] = fit_and_score(features, y, fit, (fit[1], c["end"]), loaded, settings)
        ref_seconds = time.monotonic() - t0

        res = None
        if args.no_replay:
            log(f"[{stream.name}] frozen: train rows 0-{tr - 1} (no replay)")
            frozen = fit_and_score(features, y, (0, tr), (tr, len(y)), loaded, settings)
            served = None
        else:
            from selfheal.replay import replay

            t_start = time.monotonic()
            step = max(1000, (len(y) - tr) // 10 // 100 * 100)

            def progress(done: int, total: int) -> None:
                if done % step == 0 or done == total:
                    log(
                        f"[{stream.name}] {done:,}/{total:,} rows streamed, "
                        f"{time.monotonic() - t_start:,.0f} s"
                    )

            res = replay(
                frame,
                stream.target,
                settings=settings,
                train_rows=tr,
                batch=args.batch,
                label_delay=args.label_delay,
                seconds_per_row=args.seconds_per_row,
                segment=args.segment,
                progress=progress,
            )
            frozen, served = res.frozen, res.served
        out["settings"] = {
            "overrides": dict(env),
            "monitor_interval": settings.monitor_interval,
            "cooldown_seconds": settings.cooldown_seconds,
            "classifier": settings.classifier,
            "seed": settings.seed,
        }

    def part(arr: np.ndarray | None, a: int, b: int) -> np.ndarray | None:
        return None if arr is None else arr[a - tr : b - tr]

    rows_out = []
    for i, c in enumerate(concepts):
        if i == 0:
            a, b = c["start"], c["end"]
            fz, sv = auc(y[a:b], part(frozen, a, b)), auc(y[a:b], part(served, a, b))
            margin = None if sv is None or fz is None else sv - fz
            rows_out.append(
                {
                    "segment": "before",
                    "rows": [a, b],
                    "frozen_auc": fz,
                    "served_auc": sv,
                    "margin": margin,
                    "pass": None if margin is None else margin >= -BEFORE_SLACK,
                }
            )
            continue
        ch = c["change"]
        a, b = c["start"] + CEILING_ROWS, c["end"]
        fz, sv = auc(y[a:b], part(frozen, a, b)), auc(y[a:b], part(served, a, b))
        ce = auc(y[a:b], ceilings[i])
        gap = None if sv is None or ce is None else ce - sv
        # The adaptation stretch: from the change to where the "after" rows begin.
        adapt = auc(y[ch.row : a], part(served, ch.row, a))
        rows_out.append(
            {
                "segment": c["segment"],
                "change_row": ch.row,
                "stable_row": ch.stable,
                "what": ch.what,
                "rows": [a, b],
                "ceiling_fit_rows": [c["start"], c["start"] + CEILING_ROWS],
                "frozen_auc": fz,
                "served_auc": sv,
                "ceiling_auc": ce,
                "gap": gap,
                "served_auc_adapting": adapt,
                "frozen_auc_adapting": auc(y[ch.row : a], part(frozen, ch.row, a)),
                "pass": None if gap is None else gap <= MAX_GAP,
            }
        )
    out["concepts"] = rows_out
    out["reference_seconds"] = round(ref_seconds, 1)
    if res is None:
        out["verdict"] = None
        return out
    summary = res.summary()
    out["summary"] = summary
    out["refused"] = int(res.refused)
    out["refused_reasons"] = res.refused_reasons
    out["seconds"] = round(float(res.seconds), 1)
    out["segments"] = res.segments
    out["recoveries"] = res.recoveries
    out["events"] = res.events
    out["cycles"] = res.cycles
    verdicts = {
        "before": rows_out[0]["pass"],
        **{r["segment"]: r["pass"] for r in rows_out[1:]},
        "refused": res.refused == 0,
    }
    out["verdicts"] = verdicts
    out["verdict"] = all(v is True for v in verdicts.values())
    return out


def describe(stream: st.Stream) -> dict[str, Any]:
    return {
        "name": stream.name,
        "kind": stream.kind,
        "description": stream.description,
        "source": stream.source,
        "licence": stream.licence,
        "seed": stream.seed if stream.seeded else None,
        "rows": stream.rows,
        "train_rows": stream.train_rows,
        "target": stream.target,
        "changes": [{"row": c.row, "stable": c.stable, "what": c.what} for c in stream.changes],
        "notes": stream.notes,
    }


def cli_command(
    stream: st.Stream, path: Path, args: argparse.Namespace, env: dict[str, str]
) -> str:
    prefix = "".join(f"{k}={v} " for k, v in env.items())
    return (
        f"{prefix}selfheal replay --data {path.relative_to(ROOT)} --target {stream.target} "
        f"--train-rows {stream.train_rows} --batch {args.batch} "
        f"--label-delay {args.label_delay} --seconds-per-row {args.seconds_per_row:g} "
        f"--segment {args.segment}"
    )


# ----------------------------------------------------------------------------- reports


def verdict_word(v: bool | None) -> str:
    return "n/a" if v is None else ("PASS" if v else "FAIL")


def results_table(results: list[dict[str, Any]]) -> list[str]:
    head = (
        "| stream | kind | change row | rows | frozen before | served before | frozen after "
        "| served after | ceiling after | gap to ceiling | retrains / promotions / rejections "
        "/ rollbacks | refused | wall s | after (gap <= 0.05) | before (>= frozen - 0.01) "
        "| refused = 0 |"
    )
    lines = [head, "|" + "---|" * 16]
    for r in results:
        s = r["stream"]
        if "skipped" in r:
            lines.append(f"| {s['name']} | {s['kind']} | SKIPPED: {r['skipped']} |" + " |" * 13)
            continue
        before = r["concepts"][0]
        summ = r.get("summary") or {}
        counts = (
            f"{summ.get('retrains', 0)} / {summ.get('promotions', 0)} / "
            f"{summ.get('rejections', 0)} / {summ.get('rollbacks', 0)}"
            if summ
            else "-"
        )
        for j, c in enumerate(r["concepts"][1:]):
            first = j == 0
            cells = [
                s["name"] if first else "",
                s["kind"] if first else "",
                f"{c['change_row']:,}"
                + (f" (stable {c['stable_row']:,})" if c["stable_row"] != c["change_row"] else ""),
                f"{s['rows']:,}" if first else "",
                f3(before["frozen_auc"]) if first else "",
                f3(before["served_auc"]) if first else "",
                f3(c["frozen_auc"]),
                f3(c["served_auc"]),
                f3(c["ceiling_auc"]),
                signed(c["gap"]),
                counts if first else "",
                str(r.get("refused", "-")) if first else "",
                f"{r['seconds']:,.0f}" if first and "seconds" in r else "",
                verdict_word(c["pass"]),
                verdict_word(before["pass"]) if first else "",
                verdict_word(r["verdicts"]["refused"]) if first and "verdicts" in r else "",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def segments_table(results: list[dict[str, Any]], segment: int) -> list[str]:
    ran = [r for r in results if r.get("segments")]
    if not ran:
        return []
    starts = sorted({s["start_row"] for r in ran for s in r["segments"]})
    head = "| stream | " + " | ".join(
        f"{a // 1000:g}k" if a % 1000 == 0 else str(a) for a in starts
    )
    lines = [head + " |", "|" + "---|" * (len(starts) + 1)]
    for r in ran:
        by = {s["start_row"]: s for s in r["segments"]}
        cells = []
        for a in starts:
            s = by.get(a)
            if s is None:
                cells.append("")
                continue
            mark = "*" if any(c["row"] >= a and c["row"] < s["end_row"] for c in changes(r)) else ""
            cells.append(f"{mark}{f3(s['served_auc'])} / {f3(s['frozen_auc'])}")
        lines.append(f"| {r['stream']['name']} | " + " | ".join(cells) + " |")
    return lines


def changes(r: dict[str, Any]) -> list[dict[str, Any]]:
    return list(r["stream"]["changes"])


def _short(text: str, limit: int = 140) -> str:
    """The first clause of a gate's reason: up to its first ';' (parentheses closed)."""
    head = text.split(";", 1)[0].strip().rstrip(".")
    head += ")" * max(0, head.count("(") - head.count(")"))
    return head if len(head) <= limit else head[: limit - 3] + "..."


def event_digest(r: dict[str, Any], limit: int = 30) -> list[str]:
    """The loop's story in a few lines: one line counting the triggers, one per retrain run
    with the gates it failed, one per promotion, probation verdict and rollback."""
    events = r.get("events", [])
    triggers: dict[str, dict[str, int]] = {}
    first: dict[str, int] = {}
    for e in events:
        if e["kind"] == "trigger":
            t = str(e.get("trigger"))
            d = triggers.setdefault(t, {})
            d[str(e.get("decision"))] = d.get(str(e.get("decision")), 0) + 1
            first.setdefault(t, e["row"])
    out = []
    if triggers:
        out.append(
            "triggers: "
            + "; ".join(
                f"{t} in {sum(d.values())} cycles from row {first[t]:,} ("
                + ", ".join(f"{k} {n}" for k, n in sorted(d.items(), key=lambda kv: -kv[1]))
                + ")"
                for t, d in triggers.items()
            )
        )
    failed: dict[Any, list[str]] = {}
    for e in events:
        if e["kind"] == "gate" and not e.get("passed"):
            reason = str(e.get("detail") or "").split("FAILED: ", 1)[-1]
            short = _short(reason)
            m = re.search(r"\d+ of \d+ judged slices fail", reason)
            if m:
                short += f", {m.group(0)}"
            failed.setdefault(e.get("run_id"), []).append(f"{e.get('gate')}: {short}")
    for e in events:
        kind, row = e["kind"], e["row"]
        if kind == "retrain":
            line = f"row {row:,}: {e.get('detail')}"
            if failed.get(e.get("run_id")):
                line += " - failed " + "; ".join(failed[e.get("run_id")])
            out.append(line)
        elif kind == "promoted" and row > r["stream"]["train_rows"]:
            out.append(f"row {row:,}: promoted {e.get('version')} ({e.get('detail')})")
        elif kind in ("probation", "rolled_back", "failed", "monitor_error"):
            out.append(f"row {row:,}: {kind} {e.get('version') or ''}: {e.get('detail') or ''}")
    if len(out) > limit:
        out = out[: limit - 1] + [f"... {len(out) - limit + 1} more lines in --json"]
    return out


def environment() -> str:
    import sklearn

    parts = [
        f"Python {platform.python_version()}",
        f"NumPy {np.__version__}",
        f"pandas {pd.__version__}",
        f"scikit-learn {sklearn.__version__}",
    ]
    try:
        import river

        parts.append(f"River {river.__version__}")
    except ImportError:
        parts.append("River not installed (cached CSVs)")
    return ", ".join(parts) + f"; {os.cpu_count()} cores ({platform.machine()})"


def _commit() -> str | None:
    """The checkout's commit (with "+" when the tree has changes), for the record."""
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return (head + ("+" if dirty else "")) or None


def report(doc: dict[str, Any], event_lines: int = 30) -> str:
    results, env, rp = doc["results"], doc["settings_overrides"], doc["replay"]
    wall = sum(r.get("seconds", 0.0) + r.get("reference_seconds", 0.0) for r in results)
    lines = [
        f"Measured on {doc['date']} (commit {doc.get('commit') or 'unknown'}); rerun the "
        "commands above after a change to the policy, the recipe or the gates.",
        "",
        "Settings: "
        + (
            "the project's defaults"
            if not env
            else "defaults except " + ", ".join(f"`{k}={v}`" for k, v in env.items())
        )
        + f"; replay batches of {rp['batch']} rows, labels after {rp['label_delay']} batch(es), "
        f"{rp['seconds_per_row']:g} s of injected time per row; a monitor cycle runs after a "
        "batch once `SELFHEAL_MONITOR_INTERVAL` seconds of that time have passed (at most "
        "one per batch). `v0001` trains on rows 0-2,999 of every stream.",
        "",
        '"after" = AUC on the rows of the new concept from its 1,001st row on (the ceiling '
        'trains on the 1,000 before); "before" = the streamed rows before the first change; '
        "gap = ceiling - served.",
        "",
        *results_table(results),
        "",
    ]
    seg = segments_table(results, rp["segment"])
    if seg:
        lines += [
            f"Served / frozen AUC per {rp['segment']:,} streamed rows (column = first row; "
            "`*` = a change starts in that segment):",
            "",
            *seg,
            "",
        ]
    for r in results:
        digest = event_digest(r, event_lines)
        if digest:
            lines += [f"`{r['stream']['name']}` events:", ""]
            lines += [f"- {d}" for d in digest]
            lines.append("")
    skipped = [r for r in results if "skipped" in r]
    for r in skipped:
        lines.append(f"- {r['stream']['name']} skipped: {r['skipped']}")
    lines += [
        f"Environment: {doc['environment']}. Wall time of all streams: {wall:,.0f} s"
        + (f" ({rp['jobs']} streams at a time)" if rp.get("jobs", 1) > 1 else "")
        + ".",
        "",
    ]
    return "\n".join(lines)


def streams_table(results: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| stream | kind | rows | change rows | seed | source | licence |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r["stream"]
        ch = ", ".join(
            f"{c['row']:,}" + (f"-{c['stable']:,}" if c["stable"] != c["row"] else "")
            for c in s["changes"]
        )
        seed = "-" if s["seed"] is None else str(s["seed"])
        lines.append(
            f"| {s['name']} | {s['kind']} | {s['rows']:,} | {ch} | {seed} | {s['source']} "
            f"| {s['licence']} |"
        )
    return lines


def list_streams(streams: list[st.Stream]) -> None:
    for s in streams:
        missing = st.missing_modules(s)
        state = "cached" if st.cached(s) else ("needs " + ", ".join(missing) if missing else "")
        print(f"{s.name}  [{s.kind}]  {s.rows:,} rows, v0001 on rows 0-{s.train_rows - 1:,}")
        print(f"    {s.description}")
        for c in s.changes:
            where = f"row {c.row:,}" + (f" (holds from {c.stable:,})" if c.stable != c.row else "")
            print(f"    change at {where}: {c.what}")
        print(f"    source: {s.source}; licence: {s.licence}")
        if s.notes:
            print(f"    note: {s.notes}")
        print(
            f"    seed: {s.seed if s.seeded else '-'}; csv: {s.csv_path.relative_to(ROOT)}", end=""
        )
        print(f" ({state})" if state else "")


def write_docs(block: str) -> Path:
    """Replace the generated block of our section (create the section if it is missing);
    text of the section outside the block is kept."""
    path = ROOT / "docs" / "performance.md"
    text = path.read_text() if path.exists() else "# Performance\n"
    generated = f"{BEGIN}\n{block.rstrip()}\n{END}"
    if BEGIN in text and END in text:
        a = text.index(BEGIN)
        b = text.index(END) + len(END)
        text = text[:a] + generated + text[b:]
    elif SECTION in text:
        start = text.index(SECTION)
        nxt = text.find("\n## ", start + len(SECTION))
        at = len(text) if nxt == -1 else nxt
        text = text[:at].rstrip("\n") + "\n\n" + generated + "\n" + text[at:]
    else:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{generated}\n"
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the streams and exit")
    ap.add_argument("--stream", action="append", default=[], metavar="NAME", help="run NAME only")
    ap.add_argument("--seed", type=int, help="replace every synthetic stream's seed")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting override, e.g. cooldown_seconds=600 (repeatable)")  # fmt: skip
    ap.add_argument("--batch", type=int, default=100, help="rows per request (100)")
    ap.add_argument("--label-delay", type=int, default=0, help="batches before labels (0)")
    ap.add_argument("--seconds-per-row", type=float, default=1.0, help="injected time (1.0)")
    ap.add_argument("--segment", type=int, default=1000, help="rows per segment (1000)")
    ap.add_argument("--jobs", type=int, default=1, help="streams run in parallel processes (1)")
    ap.add_argument("--no-replay", action="store_true", help="streams and references only")
    ap.add_argument("--rebuild", action="store_true", help="rewrite the cached CSVs")
    ap.add_argument("--keep-homes", metavar="DIR", help="keep each replay's home in DIR/STREAM")
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    ap.add_argument("--from-json", metavar="FILE", help="report a saved --json run, no replay")
    ap.add_argument("--strict", action="store_true", help="exit 1 on FAIL or a skipped stream")
    ap.add_argument("--write-docs", action="store_true", help="update docs/performance.md")
    ap.add_argument("--setup-venv", action="store_true", help=f"create {VENV.relative_to(ROOT)}")
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)

    if args.setup_venv:
        return setup_venv()
    env = parse_sets(args.set)
    catalogue = st.catalogue(args.seed)
    if args.stream:
        try:
            chosen = [st.by_name(n, args.seed) for n in args.stream]
        except KeyError as exc:
            print(f"healing_bench: {exc.args[0]}", file=sys.stderr)
            return 2
    else:
        chosen = catalogue
    if args.list:
        list_streams(chosen)
        return 0
    try:  # fail early on a bad --set, before minutes of work
        with tempfile.TemporaryDirectory() as tmp:
            make_settings(Path(tmp) / "home", env)
    except Exception as exc:  # ConfigError names the variable and what is allowed
        print(f"healing_bench: {exc}", file=sys.stderr)
        return 2

    if args.from_json:
        doc = json.loads(Path(args.from_json).read_text())
    else:
        if not args.no_replay:
            import selfheal.replay  # noqa: F401  (the code under test, imported up front)
        if args.jobs > 1 and len(chosen) > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=args.jobs) as pool:
                futures = [pool.submit(run_stream, s, args, env) for s in chosen]
                results = [f.result() for f in futures]
        else:
            results = [run_stream(s, args, env) for s in chosen]
        doc = {
            "date": dt.date.today().isoformat(),
            "commit": _commit(),
            "environment": environment(),
            "targets": {"max_gap": MAX_GAP, "before_slack": BEFORE_SLACK},
            "ceiling_rows": CEILING_ROWS,
            "settings_overrides": env,
            "replay": {
                "batch": args.batch,
                "label_delay": args.label_delay,
                "seconds_per_row": args.seconds_per_row,
                "segment": args.segment,
                "jobs": args.jobs,
            },
            "results": results,
        }
    results = doc["results"]
    for r in results:
        if "skipped" in r and not args.quiet:
            print(f"[{r['stream']['name']}] skipped: {r['skipped']}", file=sys.stderr)
    if args.json:
        print(json.dumps(doc, indent=1, default=_json_default))
    else:
        print(report(doc))
    if args.write_docs:
        print(f"# wrote {write_docs(docs_block(doc))}", file=sys.stderr)
    bad = [r for r in results if "skipped" in r or r.get("verdict") is False]
    return 1 if args.strict and bad else 0


def docs_block(doc: dict[str, Any]) -> str:
    env, rp, results = doc["settings_overrides"], doc["replay"], doc["results"]
    opts = "".join(f" --set {k.removeprefix('SELFHEAL_').lower()}={v}" for k, v in env.items())
    if rp.get("jobs", 1) > 1:
        opts += f" --jobs {rp['jobs']}"
    for key, default in (("batch", 100), ("label_delay", 0), ("segment", 1000)):
        if rp[key] != default:
            opts += f" --{key.replace('_', '-')} {rp[key]}"
    if rp["seconds_per_row"] != 1.0:
        opts += f" --seconds-per-row {rp['seconds_per_row']:g}"
    return "\n".join(
        [
            *streams_table(results),
            "",
            report(doc, event_lines=12).rstrip(),
            "",
            "Reproduce (the first run also downloads two wheels and writes the CSVs):",
            "",
            "```bash",
            "python3 bench/healing_bench.py --setup-venv  # bench/.venv-healing: River, pyarrow",
            f"bench/.venv-healing/bin/python bench/healing_bench.py{opts} --json > healing.json",
            "bench/.venv-healing/bin/python bench/healing_bench.py --from-json healing.json "
            "--write-docs",
            "```",
            "",
            "Each stream replays by hand from its cached CSV:",
            "",
            "```bash",
            *[f".venv/bin/{r['stream']['command']}" for r in results if "command" in r["stream"]],
            "```",
        ]
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


if __name__ == "__main__":
    raise SystemExit(main())
