"""The command-line face: parse arguments, call the core, print, map errors to exit codes.

Exit codes (docs/troubleshooting.md, "Exit codes"): 0 the command did what was asked (a
challenger judged and promoted); 1 an operation failed (the message says why; a bug says
"please report it"); 2 bad arguments or input; 3 the evaluation gates said no (a rejected
retrain, `train --challenge` or first model, a rejected version to promote); 130 Ctrl-C.
Errors are one line on stderr: `selfheal: error: ...`, never a traceback; so are the core's
log records during a command (a retrain that fails inside the healer is logged there).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import sqlite3
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from selfheal.config import Settings
from selfheal.errors import (
    ConfigError,
    DataError,
    GateRejected,
    NoModelError,
    NotFoundError,
    SelfhealError,
    ValidationError,
    command_name,
)

if TYPE_CHECKING:  # imported where used: `selfheal env` and `--help` stay light
    from selfheal.home import Home

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTED = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
MAX_SEED = 2**32 - 1  # numpy's and scikit-learn's random_state range
# Refusals that are the evaluation gates' verdict, whatever the error class that carries them.
_REJECTED_CODES = frozenset({GateRejected.code, "version_rejected"})
BUG = "please report it with the command you ran"


def exit_code(exc: SelfhealError) -> int:
    """The exit code of an error: 3 when the gates said no, 2 for bad input, else 1."""
    if isinstance(exc, GateRejected) or exc.code in _REJECTED_CODES:
        return EXIT_REJECTED
    if isinstance(exc, (ConfigError, DataError, ValidationError)):
        return EXIT_USAGE
    return EXIT_FAILED


def outcome_exit_code(outcome: Any) -> int:
    """The exit code of a judged challenger (`retrain`, `train --challenge`): 0 promoted,
    3 rejected by the gates, 1 failed or not run."""
    return {"promoted": EXIT_OK, "rejected": EXIT_REJECTED}.get(outcome.status, EXIT_FAILED)


class OneLineLog(logging.Handler):
    """The core's log records during a command, one line each on stderr.

    Without a handler, Python's fallback prints a logged exception with its traceback (a
    `train --challenge` with too few labels did). An expected failure, a SelfhealError, is
    its message; any other exception is a bug and says so, still on one line."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            exc = record.exc_info[1] if record.exc_info else None
            if isinstance(exc, SelfhealError):
                text = f"{text}: {exc.message}"
            elif exc is not None:
                text = f"{text}: unexpected {type(exc).__name__}: {exc}; {BUG}"
            level = "error" if record.levelno >= logging.ERROR else "warning"
            sys.stderr.write(f"selfheal: {level}: {' '.join(text.split())}\n")
        except Exception:
            self.handleError(record)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(EXIT_USAGE)


# The range of every numeric option, refused by argparse (exit 2) outside it: an unbounded
# number reached numpy or the clock as a MemoryError or an OverflowError. The ranges are in
# each option's --help and in docs/troubleshooting.md ("Numeric options").
MAX_ROWS = 10_000_000  # as SELFHEAL_BOOTSTRAP_ROWS
MIN_REPLAY_TRAIN_ROWS = 200  # selfheal.replay.MIN_TRAIN_ROWS (a test keeps them equal)
MAX_DAYS = 36_500  # as SELFHEAL_RETENTION_DAYS
MAX_REPLAY_YEARS = 100  # injected time a replay may cover (the clock ends in year 9999)


def bounded(
    low: float, high: float, *, integer: bool = True, above: bool = False
) -> Callable[[str], Any]:
    """An argparse `type`: a number from `low` to `high` (greater than `low` with `above`),
    an integer unless `integer=False`. Anything else is an argparse error that names the
    option, the range and what was given."""
    lo, hi = (str(int(x)) if float(x).is_integer() else str(x) for x in (low, high))
    allowed = f"{'an integer' if integer else 'a number'} " + (
        f"greater than {lo} and at most {hi}" if above else f"from {lo} to {hi}"
    )

    def parse(text: str) -> int | float:
        try:
            value: int | float = int(text) if integer else float(text)
        except ValueError:
            value = math.nan
        in_range = math.isfinite(value) and (value > low if above else value >= low)
        if not (in_range and value <= high):
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}")
        return value

    return parse


def _add_training_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """`init` and `train`."""
    sub.add_parser("init", help="migrate the database and bootstrap v0001 if no model serves")

    t = sub.add_parser("train", help="train a new version (synthetic data unless --data)")
    t.add_argument("--data", metavar="CSV", help="training data, a CSV with a header row")
    t.add_argument("--target", metavar="COL", help="the label column of --data")
    t.add_argument(
        "--positive",
        metavar="VALUE",
        help="the target value that means the positive class (e.g. bad)",
    )
    t.add_argument(
        "--schema",
        metavar="JSON",
        help="declared schema: hard bounds and levels of some or all columns",
    )
    t.add_argument(
        "--categorical",
        metavar="COL",
        action="append",
        default=[],
        help="train column COL of --data as a category (codes, zip codes); repeatable",
    )
    t.add_argument("--classifier", choices=("hgb", "logreg"), help="default: SELFHEAL_CLASSIFIER")
    t.add_argument(
        "--seed", type=bounded(0, MAX_SEED), help=f"0 to {MAX_SEED}; default: SELFHEAL_SEED"
    )
    t.add_argument(
        "--rows",
        type=bounded(1, MAX_ROWS),
        metavar="N",
        help=f"synthetic rows when no --data, 1 to {MAX_ROWS} (default: SELFHEAL_BOOTSTRAP_ROWS)",
    )
    group = t.add_mutually_exclusive_group()
    group.add_argument("--promote", action="store_true", help="promote the new version")
    t.add_argument(
        "--force",
        action="store_true",
        help="with --promote: promote even when its fields differ from production's",
    )
    group.add_argument(
        "--challenge",
        action="store_true",
        help="judge it against production with the four gates on recent "
        "labeled traffic; promote it only if it passes",
    )
    t.add_argument("--reason", default="", help="recorded in the audit trail")


def _add_version_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """`models`, `promote`, `rollback` and `retrain`: the registry and its pointers."""
    sub.add_parser("models", help="list every version with its status and metrics")

    pr = sub.add_parser("promote", help="make VERSION the production model")
    pr.add_argument("version", metavar="VERSION")
    pr.add_argument("--reason", default="", help="recorded in the audit trail")
    pr.add_argument(
        "--force",
        action="store_true",
        help="promote even a rejected version, or one whose fields differ from production's",
    )

    rb = sub.add_parser("rollback", help="return production to the previous version")
    rb.add_argument("--to", metavar="VERSION", help="roll back to this version instead")
    rb.add_argument("--reason", default="", help="recorded in the audit trail")
    rb.add_argument(
        "--force",
        action="store_true",
        help="roll back even to a version whose fields differ from production's",
    )

    rt = sub.add_parser(
        "retrain",
        help="retrain now from recent labeled traffic, judge the "
        "challenger with the gates, promote or reject it",
    )
    rt.add_argument("--reason", default="operator request", help="recorded as evidence")


def _add_monitoring_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """`monitor`, `shadow` and `report`."""
    mo = sub.add_parser("monitor", help="run one monitor cycle and print its report")
    mo.add_argument(
        "--once",
        action="store_true",
        required=True,
        help="run a single cycle (the server runs them continuously)",
    )
    mo.add_argument("--json", action="store_true", help="print JSON")

    sh = sub.add_parser("shadow", help="score VERSION in shadow on live traffic")
    sh.add_argument("version", metavar="VERSION", nargs="?")
    sh.add_argument("--stop", action="store_true", help="stop shadow scoring")

    sub.add_parser(
        "report",
        help="write the drift report of the current window (var/reports/drift/latest.html)",
    )


def _add_replay_command(sub: argparse._SubParsersAction[Any]) -> None:
    """`replay`: a labeled stream through the real serving, monitor and healer code."""
    rp = sub.add_parser(
        "replay",
        help="replay a time-ordered labeled CSV through the real serving, monitor and "
        "healer code, with an injected clock (see selfheal replay --help)",
        description="Train and promote v0001 on the first rows of a time-ordered labeled CSV, "
        "then serve the rest in batches through the service (validation, writer, SQLite, "
        "monitor, healer, gates, probation), posting each batch's labels after it was "
        "served. Time is injected: no sleeping. Other settings (SELFHEAL_MONITOR_INTERVAL, "
        "SELFHEAL_COOLDOWN_SECONDS, gates...) come from the environment as usual.",
    )
    rp.add_argument("--data", metavar="CSV", required=True, help="the stream, oldest row first")
    rp.add_argument("--target", metavar="COL", required=True, help="the label column")
    rp.add_argument(
        "--positive", metavar="VALUE", help="the target value that means the positive class"
    )
    rp.add_argument(
        "--train-rows",
        type=bounded(MIN_REPLAY_TRAIN_ROWS, MAX_ROWS),
        default=1000,
        metavar="N",
        help=f"v0001 is trained and promoted on the first N rows, {MIN_REPLAY_TRAIN_ROWS} to "
        f"{MAX_ROWS} (default 1000)",
    )
    rp.add_argument(
        "--batch",
        type=bounded(1, 100_000),
        default=100,
        metavar="N",
        help="rows per request, 1 to 100000 (default 100)",
    )
    rp.add_argument(
        "--label-delay",
        type=bounded(0, 1_000_000),
        default=0,
        metavar="BATCHES",
        help="a batch's labels arrive after this many further batches, 0 to 1000000 (default 0)",
    )
    rp.add_argument(
        "--seconds-per-row",
        type=bounded(0, 86_400, integer=False, above=True),
        default=1.0,
        metavar="S",
        help="injected time per row, more than 0 and at most 86400 (a day), and at most 100 "
        "years over the whole stream; a monitor cycle runs every SELFHEAL_MONITOR_INTERVAL "
        "seconds of it (default 1)",
    )
    rp.add_argument(
        "--segment",
        type=bounded(1, MAX_ROWS),
        default=1000,
        metavar="N",
        help=f"rows per table segment, 1 to {MAX_ROWS} (default 1000)",
    )
    rp.add_argument("--classifier", choices=("hgb", "logreg"), help="default: SELFHEAL_CLASSIFIER")
    rp.add_argument(
        "--home",
        metavar="DIR",
        help="keep the state in DIR (new or empty) for inspection; default: a temporary "
        "home, removed afterwards",
    )
    rp.add_argument("--json", action="store_true", help="print the whole result as JSON")
    rp.add_argument("--report", metavar="HTML", help="also write a self-contained HTML report")


def _add_operations_commands(sub: argparse._SubParsersAction[Any]) -> None:
    """`prune`, `backup`, `status`, `serve`, `simulate`, `demo` and `env`."""
    pn = sub.add_parser("prune", help="delete predictions, labels and cycles older than DAYS")
    pn.add_argument(
        "--days",
        type=bounded(0, MAX_DAYS, integer=False),
        required=True,
        help=f"keep this many days, 0 to {MAX_DAYS} (fractions allowed)",
    )

    bk = sub.add_parser("backup", help="copy the database with SQLite's online backup API")
    bk.add_argument("--to", metavar="PATH", help="default: var/backups/selfheal-<time>.db")

    st = sub.add_parser("status", help="production version, counts and recent events")
    st.add_argument("--json", action="store_true", help="print JSON")

    sub.add_parser("serve", help="serve the API (same as python run.py)")
    sub.add_parser(
        "simulate",
        help="send traffic, drift and labels to a running server (see selfheal simulate --help)",
        add_help=False,
    )
    de = sub.add_parser("demo", help="a narrated 2-minute tour of the self-healing loop")
    de.add_argument("--keep", action="store_true", help="keep the temporary home and log")
    env = sub.add_parser("env", help="print a .env.example with every setting and its default")
    env.add_argument(
        "--check",
        action="store_true",
        help="list every unknown or invalid SELFHEAL_* setting instead (exit 2 if any)",
    )


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="selfheal", description="A self-healing machine-learning service.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_training_commands(sub)
    _add_version_commands(sub)
    _add_monitoring_commands(sub)
    _add_replay_command(sub)
    _add_operations_commands(sub)
    return p


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"


def _print_models(
    rows: list[dict[str, Any]], live: dict[str, dict[str, Any]] | None = None, n_live: int = 0
) -> None:
    """The version table: each version's own holdout metrics and, when labels exist, its
    F1 and AUC on the same newest labeled rows (`home.compare_live`), side by side."""
    if not rows:
        print(f"no versions yet; run `{command_name()} init`")
        return
    live = live or {}
    if live:
        print(
            f"HOLDOUT: each version's own test split at training time (not comparable across "
            f"versions). LIVE: every version scored on the same {n_live} newest labeled rows."
        )
    print(
        f"{'VERSION':<8} {'STATUS':<11} {'F1':>6} {'AUC':>6} {'BRIER':>6}  "
        + (f"{'LIVE F1':>7} {'LIVE AUC':>8}  " if live else "")
        + f"{'CREATED':<20} REASON"
    )
    width = max(60, shutil.get_terminal_size((100, 24)).columns)
    for r in rows:
        m = r.get("metrics") or {}
        created = (r.get("created_at") or "")[:19]
        reason = r.get("reason") or ""
        lv = live.get(r["version"]) or {}
        head = (
            f"{r['version']:<8} {r['status']:<11} {_fmt(m.get('f1')):>6} "
            f"{_fmt(m.get('auc')):>6} {_fmt(m.get('brier')):>6}  "
            + (f"{_fmt(lv.get('f1')):>7} {_fmt(lv.get('auc')):>8}  " if live else "")
            + f"{created:<20} "
        )
        # A reason that fits stays on the row; a longer one (a rejection leads with its
        # cause) is wrapped below it, never cut.
        if len(head) + len(reason) <= width:
            print(head + reason)
        else:
            print(head.rstrip())
            for line in textwrap.wrap(reason, width - 4):
                print("    " + line)


def _print_outcome(outcome: Any) -> None:
    print(
        f"retrain {outcome.run_id}: {outcome.status}"
        + (f" {outcome.version}" if outcome.version else "")
    )
    for g in outcome.gates:
        print(f"  {'PASS' if g['passed'] else 'FAIL'} {g['name']:<13} {g['reason']}")
    if outcome.status == "failed":
        print(f"  error: {outcome.reason}")


def _print_cycle(summary: dict[str, Any]) -> None:
    print(
        f"monitor cycle at {summary.get('created_at')}: {summary.get('model_version')} "
        f"status {summary.get('status')}, {summary.get('n_window', 0)} rows"
    )
    if summary.get("status") == "error":
        print(f"  error: {summary.get('error')}")
        return
    print(
        f"  drift share {_fmt(summary.get('drift_share'))}, dataset drift "
        f"{bool(summary.get('dataset_drift'))}, drifted: "
        f"{', '.join(summary.get('drifted_features') or []) or 'none'}"
    )
    print(
        f"  F1: live {_fmt(summary.get('live_f1'))} on {summary.get('n_labeled') or 0} "
        f"labels, estimated {_fmt(summary.get('estimated_f1'))} "
        f"[{_fmt(summary.get('estimated_f1_low'))}, {_fmt(summary.get('estimated_f1_high'))}]"
        f", holdout {_fmt(summary.get('holdout_f1'))}"
    )
    print(
        f"  decision: {summary.get('decision')}"
        + (f" (trigger {summary['trigger']})" if summary.get("trigger") else "")
        + (f": {summary['decision_reason']}" if summary.get("decision_reason") else "")
    )
    if summary.get("report_path"):
        print(f"  report: {summary['report_path']}")


def _home(settings: Settings, *, existing: bool = True) -> Home:
    """The state root, to use in a `with` block. Only the commands that make a home (`init`,
    `train`) pass `existing=False`; every other command reads or maintains one, and a
    missing home (after `make clean-all`, or a mistyped SELFHEAL_HOME) is an error, never
    created empty (`prune` did, and reported success)."""
    from selfheal.home import Home

    if existing:
        _require_home(settings)
    return Home(settings)


def db_errors() -> tuple[type[Exception], ...]:
    """Both drivers' base errors (psycopg's once PostgreSQL was used)."""
    from selfheal import db

    return db.ERRORS


def _require_home(settings: Settings) -> None:
    if settings.postgres:  # the database is a server's: connecting says whether it exists
        return
    if not settings.db_path.is_file():
        raise NotFoundError(
            f"no selfheal home at {settings.home_path} (no {settings.db_path.name}); run "
            f"`make init` (or `{command_name()} init`) there, or set SELFHEAL_HOME to the "
            "right folder",
            code="no_home",
        )


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from selfheal.home import bootstrap

    with _home(settings, existing=False) as home:
        version = bootstrap(home)
        if version:
            m = home.registry.meta(version)["metrics"]
            print(
                f"initialised {settings.home_path}: trained and promoted {version} "
                f"(F1 {m['f1']:.3f}, AUC {m['auc']:.3f})"
            )
        else:
            print(f"already initialised: {home.registry.production()} is in production")
    return EXIT_OK


def cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from selfheal.home import train_version

    with _home(settings, existing=False) as home:
        trained = train_version(
            home,
            data=args.data,
            target=args.target,
            positive=args.positive,
            schema_path=args.schema,
            categorical=args.categorical,
            classifier=args.classifier,
            seed=args.seed,
            rows=args.rows,
            promote=args.promote,
            reason=args.reason,
            challenge=args.challenge,
            force=args.force,
        )
        from selfheal.schema import describe

        for note in trained.notes:
            sys.stderr.write(f"selfheal: warning: {note}\n")
        m = trained.metrics
        print(
            f"trained: F1 {m['f1']:.3f}, AUC {_fmt(m.get('auc'))}, Brier {m['brier']:.3f} "
            f"on {m['holdout_rows']} holdout rows"
        )
        features = [f"features ({len(trained.schema.features)}):"] + [
            f"  {line}" for line in describe(trained.schema)
        ]
        if trained.outcome is not None:
            _print_outcome(trained.outcome)
            print("\n".join(features))
            return outcome_exit_code(trained.outcome)
        print(
            f"registered {trained.version}"
            + (
                "; promoted to production"
                if trained.promoted
                else f"; promote it with `{command_name()} promote {trained.version}`"
            )
        )
        print("\n".join(features))
    return EXIT_OK


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from selfheal.home import compare_live

    with _home(settings) as home:
        rows = home.registry.list(verify=True)
        n, live = compare_live(home, [r["version"] for r in rows if r.get("status") != "corrupt"])
        _print_models(rows, live, n)
    return EXIT_OK


def cmd_promote(args: argparse.Namespace, settings: Settings) -> int:
    from selfheal.home import check_feature_change, version_names

    with _home(settings) as home:
        warning = check_feature_change(
            home.registry,
            version_names(home.registry, args.version),
            force=args.force,
            what=args.version,
        )
        if warning:
            sys.stderr.write(f"selfheal: warning: {warning}\n")
        ptr = home.registry.promote(args.version, reason=args.reason, actor="cli", force=args.force)
        print(f"promoted {ptr['version']} (previous: {ptr['previous'] or 'none'})")
        _say_probation_ended(home, "promoted")
    return EXIT_OK


def _say_probation_ended(home: Home, event: str) -> None:
    from selfheal.home import end_probation_by_hand

    ended = end_probation_by_hand(home.registry, home.write, home.conn, event=event, actor="cli")
    if ended is not None:
        print(f"probation of {ended['version']} ended: {ended['reason']}")


def cmd_rollback(args: argparse.Namespace, settings: Settings) -> int:
    from selfheal.home import rollback_check

    with _home(settings) as home:
        warnings: list[str] = []
        ptr = home.registry.rollback(
            to=args.to,
            reason=args.reason,
            actor="cli",
            check=rollback_check(home.registry, force=args.force, warnings=warnings),
        )
        for warning in warnings:
            sys.stderr.write(f"selfheal: warning: {warning}\n")
        print(f"rolled back from {ptr['previous']} to {ptr['version']}")
        _say_probation_ended(home, "rolled_back")
    return EXIT_OK


def cmd_retrain(args: argparse.Namespace, settings: Settings) -> int:
    with _home(settings) as home:
        _need_production(home, "retrain from")
        healer, _ = home.loop()
        decision, _run = healer.request("manual", {"reason": args.reason}, actor="cli")
        if decision != "retrain":
            raise SelfhealError(
                "a retrain is already running (in the server or another CLI); try later",
                code="retrain_running",
            )
        _print_outcome(healer.last_outcome)
        return outcome_exit_code(healer.last_outcome)


def _need_production(home: Home, what: str) -> None:
    """A cycle without a production model fails; say so before running one."""
    if home.registry.production() is None:
        raise NoModelError(
            f"no production model to {what}; run `{command_name()} init` (or "
            f"`{command_name()} promote VERSION`)",
            code="no_production",
        )


def cmd_monitor(args: argparse.Namespace, settings: Settings) -> int:
    with _home(settings) as home:
        _need_production(home, "monitor")
        healer, monitor = home.loop()  # a retrain runs inside the cycle, in this process
        summary = monitor.run_once()
        outcome = healer.last_outcome if summary.get("retrain_run_id") else None
        if args.json:
            if outcome is not None:
                summary["retrain"] = {
                    "run_id": outcome.run_id,
                    "status": outcome.status,
                    "version": outcome.version,
                    "reason": outcome.reason,
                    "gates": outcome.gates,
                }
            print(json.dumps(summary, indent=2, default=str))
        else:
            _print_cycle(summary)
            if outcome is not None:  # say what the retrain did, gate by gate
                _print_outcome(outcome)
        if summary.get("status") == "error":
            return EXIT_FAILED
        # The cycle is what was asked for: a retrain it started and the gates rejected is a
        # verdict printed above, not a failure of the command (`make monitor` stays green).
        if outcome is not None and outcome.status not in ("promoted", "rejected"):
            return EXIT_FAILED
        return EXIT_OK


def cmd_shadow(args: argparse.Namespace, settings: Settings) -> int:
    if bool(args.version) == bool(args.stop):
        raise ValidationError("give a VERSION to shadow, or --stop")
    from selfheal import store
    from selfheal.errors import RegistryError

    with _home(settings) as home:
        probation = store.active_probation(home.conn)
        if probation is not None:
            raise RegistryError(
                f"{probation['version']} is on probation and its predecessor "
                f"{probation['previous_version']} is scored in shadow to judge it; wait until "
                "the probation ends (selfheal status) or roll back",
                code="probation_active",
            )
        home.registry.set_shadow(None if args.stop else args.version, actor="cli")
        print(
            "shadow scoring stopped"
            if args.stop
            else f"{args.version} is scored in shadow on live traffic (role 'shadow')"
        )
    return EXIT_OK


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """A monitor cycle records its report; this runs one without triggering retrains."""
    with _home(settings.replace(auto_retrain=False)) as home:
        _need_production(home, "report on")
        _, monitor = home.loop()
        summary = monitor.run_once()
        if summary.get("status") == "error":  # the monitor logged it, as one line
            return EXIT_FAILED
        if not summary.get("report_path"):
            raise NotFoundError(
                "no traffic in the window yet, so no report: send predictions first "
                "(`make generate-predictions`)",
                code="no_report",
            )
        print(f"wrote {summary['report_path']}")
        print(f"and   {settings.reports_path / 'drift' / 'latest.html'}")
    return EXIT_OK


def _check_replay_args(args: argparse.Namespace, n_rows: int) -> Path | None:
    """Refuse a replay whose --train-rows leave nothing of the `n_rows` to replay, whose
    injected time would span more than `MAX_REPLAY_YEARS`, or whose --report folder is
    missing; returns the --report path (None without one)."""
    if args.train_rows >= n_rows:
        raise DataError(
            f"--train-rows {args.train_rows} leaves nothing to replay: {args.data} has "
            f"{n_rows} data rows; pass a smaller --train-rows",
            code="invalid_arguments",
        )
    years = (n_rows - args.train_rows) * args.seconds_per_row / (365.25 * 86_400)
    if years > MAX_REPLAY_YEARS:
        raise DataError(
            f"--seconds-per-row {args.seconds_per_row:g} over the {n_rows - args.train_rows} "
            f"rows to replay spans {years:.0f} years of injected time, more than the "
            f"{MAX_REPLAY_YEARS} allowed; pass a smaller --seconds-per-row",
            code="invalid_arguments",
        )
    report = Path(args.report) if args.report else None
    if report is not None and not report.parent.is_dir():
        raise DataError(
            f"--report {report}: folder {report.parent} does not exist; create it first",
            code="invalid_arguments",
        )
    return report


class _ReplayBar:
    """The replay's progress bar on stderr, drawn in place; `open` is True while a bar
    line waits for its newline."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.open = False

    def __call__(self, done: int, total: int) -> None:
        width = 30
        full = width * done // max(total, 1)
        sys.stderr.write(
            f"\rreplay [{'#' * full}{'.' * (width - full)}] {done:,}/{total:,} rows, "
            f"{time.monotonic() - self.started:.0f} s"
        )
        self.open = done < total
        sys.stderr.write("" if self.open else "\n")
        sys.stderr.flush()


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    import logging
    import shutil
    import tempfile

    from selfheal import datasets
    from selfheal.replay import replay

    frame = datasets.read_csv(args.data)
    # The checks of `selfheal train --data`, so that errors name the file.
    datasets.load_frame(frame, target=args.target, positive=args.positive, source=args.data)
    report = _check_replay_args(args, len(frame))
    temporary = None if args.home else tempfile.mkdtemp(prefix="selfheal-replay-")
    home = Path(args.home or str(temporary))
    # The loop's own log lines would tear the progress bar; its decisions are all events.
    quiet = logging.getLogger("selfheal")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    bar = _ReplayBar()
    try:
        result = replay(
            frame,
            args.target,
            # Its own embedded home, whatever SELFHEAL_DATABASE_URL and SELFHEAL_REGISTRY_DIR
            # say: a replay must never write into a deployment's database or registry.
            settings=settings.replace(home=str(home), database_url="", registry_dir=""),
            positive=args.positive,
            train_rows=args.train_rows,
            batch=args.batch,
            label_delay=args.label_delay,
            seconds_per_row=args.seconds_per_row,
            segment=args.segment,
            classifier=args.classifier,
            progress=bar if sys.stderr.isatty() else None,
        )
    finally:
        quiet.setLevel(level)
        if bar.open:  # interrupted or failed mid-stream: end the bar's line
            sys.stderr.write("\n")
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
    data = {"source": args.data, "home_kept": temporary is None, **result.to_dict()}
    if report is not None:
        from selfheal.report import render_replay

        report.write_text(render_replay(data), encoding="utf-8")
    if args.json:
        print(json.dumps(data))
        return EXIT_OK
    _print_replay(result, args.data)
    if report is not None:
        print(f"report: {report}")
    if temporary is not None:
        print("home: a temporary folder, removed (pass --home DIR to keep the state)")
    else:
        print(f"home: {home} (inspect it with SELFHEAL_HOME={home} {command_name()} models)")
    return EXIT_OK


def _print_replay(result: Any, source: str) -> None:
    p = result.params
    print(
        f"replay of {source}: {p['first_version']} trained on rows 0-{result.train_rows - 1}; "
        f"rows {result.train_rows}-{result.train_rows + result.n_stream - 1} served in "
        f"batches of {p['batch']}, labels {p['label_delay']} batch(es) later, "
        f"{p['seconds_per_row']:g} s per row, a monitor cycle every "
        f"{p['monitor_interval']:g} s"
    )
    print(
        f"\n{'ROWS':<13} {'N':>6} {'REFUSED':>7} {'SERVED AUC':>10} {'SERVED F1':>9} "
        f"{'FROZEN AUC':>10} {'FROZEN F1':>9}  VERSIONS"
    )
    for s in result.segments:
        rows = f"{s['start_row']}-{s['end_row'] - 1}"
        print(
            f"{rows:<13} {s['n']:>6} {s['refused']:>7} {_fmt(s['served_auc']):>10} "
            f"{_fmt(s['served_f1']):>9} {_fmt(s['frozen_auc']):>10} "
            f"{_fmt(s['frozen_f1']):>9}  {', '.join(s['versions'])}"
        )
    print(f"\n{'ROW':<11} {'EVENT':<13} {'VERSION':<8} DETAIL")
    for row, kind, version, detail in _event_lines(result.events):
        print(f"{row:<11} {kind:<13} {version or '-':<8} {detail}")
    if result.recoveries:
        print(
            f"\n{'BEGAN':<7} {'TRIGGER':<13} {'RECOVERED':>9} {'ROWS':>6} {'RETRAINS':>8} "
            f"{'PROMOTED':>8}  SERVED AUC BEFORE -> AFTER"
        )
    for r in result.recoveries:
        print(
            f"{r['began_row']:<7} {r['trigger']:<13} {r['recovered_row'] or 'never':>9} "
            f"{r['rows'] if r['rows'] is not None else '-':>6} {r['retrains']:>8} "
            f"{r['promotions']:>8}  {_fmt(r['served_auc_before'])} -> "
            f"{_fmt(r['served_auc_after'])}"
        )
    s = result.summary()
    print(
        f"\n{s['rows']} rows ({s['streamed']} streamed): {s['refused']} refused, "
        f"{s['cycles']} monitor cycles, {s['retrains']} retrains, {s['promotions']} "
        f"promotions, {s['rejections']} rejections, {s['rollbacks']} rollbacks; "
        f"{s['final_version']} serves at the end; {s['seconds']:.1f} s wall"
    )


def _event_lines(events: list[dict[str, Any]]) -> list[tuple[str, str, str | None, str]]:
    """Events as table lines: a run's gate verdicts on one line, and repeated identical
    triggers (one per cycle during a cooldown, say) folded into one line with a row range."""
    lines: list[tuple[str, str, str | None, str]] = []
    prev: dict[str, Any] | None = None
    folded = 1
    for e in events:
        if e["kind"] == "gate":
            verdict = f"{e['gate']} {'pass' if e['passed'] else 'FAIL'}"
            if prev is not None and prev["kind"] == "gate" and prev["run_id"] == e["run_id"]:
                row, kind, version, detail = lines[-1]
                lines[-1] = (row, kind, version, f"{detail}, {verdict}")
            else:
                lines.append((str(e["row"]), "gates", e["version"], verdict))
        elif (
            prev is not None
            and e["kind"] == prev["kind"] == "trigger"
            and e["run_id"] is None
            and prev["run_id"] is None
            and (e["detail"], e["version"]) == (prev["detail"], prev["version"])
        ):
            folded += 1
            first = lines[-1][0].split("-")[0]
            lines[-1] = (
                f"{first}-{e['row']}",
                "trigger",
                e["version"],
                f"{e['detail']} ({folded} cycles)",
            )
        else:
            lines.append((str(e["row"]), e["kind"], e["version"], e["detail"] or ""))
            folded = 1
        prev = e
    return lines


def cmd_prune(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import timedelta

    from selfheal import store
    from selfheal.db import iso, utcnow

    with _home(settings) as home:
        cutoff = iso(utcnow() - timedelta(days=args.days))  # --days is at most MAX_DAYS
        pruned = home.write(lambda c: store.prune(c, cutoff))
        print(
            f"pruned rows older than {cutoff}: {pruned['predictions']} predictions, "
            f"{pruned['labels']} labels, {pruned['drift_reports']} monitor cycles"
        )
    return EXIT_OK


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from selfheal.db import backup, iso

    if settings.postgres:
        raise DataError(
            "selfheal backup copies the embedded SQLite file; with SELFHEAL_DATABASE_URL "
            "set, back up PostgreSQL with pg_dump (docs/architecture.md, 'Backup and "
            "restore'), and the registry folder with any file copy",
            code="invalid_arguments",
        )
    _require_home(settings)
    name = f"selfheal-{iso()[:19].replace(':', '')}.db"
    target = Path(args.to) if args.to else settings.home_path / "backups" / name
    if target.is_dir():  # like cp: into that folder
        target = target / name
    _check_backup_target(target, settings)
    try:
        pages = backup(settings.db_path, target)
    except (OSError, sqlite3.Error) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise SelfhealError(
            f"cannot write the backup to {target}: {reason}; pass --to a path in a folder "
            "you can write to",
            code="backup_failed",
        ) from None
    print(
        f"backed up {settings.db_path} to {target} ({pages} pages); restore: stop the "
        f"server, copy it over {settings.db_path}, start again"
    )
    return EXIT_OK


def _check_backup_target(target: Path, settings: Settings) -> None:
    """Refuse a backup onto the live database (or its -wal, -shm or -journal file), by any
    path that leads there (a folder, `..`, a symlink, a hard link), or into the registry
    folder, whose contents the registry owns: the copy would replace what it copies, or
    litter the model store. Exit 2."""
    db = settings.db_path.resolve()
    live = [db] + [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal")]
    resolved = target.resolve()
    same = resolved in live or any(
        target.exists() and path.exists() and target.samefile(path) for path in live
    )
    if same:
        raise DataError(
            f"--to {target} is the live database {settings.db_path} (or one of its files); "
            "a backup must go elsewhere: pass --to a path outside the database's files, or "
            f"leave --to out for {settings.home_path / 'backups'}/",
            code="invalid_arguments",
        )
    registry = settings.registry_path.resolve()
    if resolved == registry or registry in resolved.parents:
        raise DataError(
            f"--to {target} is inside the model registry {settings.registry_path}, which "
            "holds only model versions; pass --to a path outside it",
            code="invalid_arguments",
        )


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from selfheal.home import status

    with _home(settings) as home:
        info = status(home)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return EXIT_OK
    prod = info["production"]
    print(f"home:        {info['home']}")
    print(f"database:    {info['database']}")
    print(f"production:  {prod['version'] if prod else 'none (run selfheal init)'}")
    if prod:
        m = info.get("production_metrics") or {}
        print(f"  promoted:  {prod['promoted_at']} by {prod['actor']}: {prod['reason']}")
        print(
            f"  holdout:   F1 {_fmt(m.get('f1'))}  AUC {_fmt(m.get('auc'))}  "
            f"Brier {_fmt(m.get('brier'))}"
        )
    print(f"versions:    {info['versions']}")
    print(f"predictions: {info['predictions']}  labels: {info['labels']}")
    width = max(60, shutil.get_terminal_size((100, 24)).columns)
    for ev in info["recent_events"]:
        head = (
            f"  {ev['created_at'][:19]} {ev['event']:<12} {ev['version'] or '-':<6} "
            f"{ev['actor']:<8} "
        )
        reason = ev["reason"] or ""
        if len(head) + len(reason) <= width:
            print(head + reason)
        else:  # wrapped below the row, never cut
            print(head.rstrip())
            for line in textwrap.wrap(reason, width - 6):
                print("      " + line)
    return EXIT_OK


def cmd_env(args: argparse.Namespace, settings: Settings | None) -> int:
    """Runs before the settings load, so that it can diagnose settings that do not."""
    from selfheal.config import check_environment, render_env_example

    if not args.check:
        sys.stdout.write(render_env_example())
        return EXIT_OK
    problems = check_environment()
    for line in problems:
        print(f"invalid: {line}")
    if not problems:
        print("ok: every SELFHEAL_* setting is known and valid")
    return EXIT_USAGE if problems else EXIT_OK


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from selfheal.server import serve

    return serve(settings)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from selfheal.demo import main as demo_main

    return demo_main(keep=args.keep)


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "init": cmd_init,
    "train": cmd_train,
    "models": cmd_models,
    "promote": cmd_promote,
    "rollback": cmd_rollback,
    "retrain": cmd_retrain,
    "monitor": cmd_monitor,
    "shadow": cmd_shadow,
    "report": cmd_report,
    "replay": cmd_replay,
    "prune": cmd_prune,
    "backup": cmd_backup,
    "status": cmd_status,
    "env": cmd_env,
    "serve": cmd_serve,
    "demo": cmd_demo,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "simulate":
        from selfheal.simulate import main as simulate_main

        return simulate_main(argv[1:])
    args = build_parser().parse_args(argv)
    # `serve` logs like run.py (tracebacks of real errors included); every other command
    # prints the core's log records as one line each.
    log = logging.getLogger("selfheal")
    handler = None if args.command == "serve" else OneLineLog()
    if handler is not None:
        log.addHandler(handler)
    try:
        return _dispatch(args)
    finally:
        if handler is not None:
            log.removeHandler(handler)


def _dispatch(args: argparse.Namespace) -> int:
    settings: Settings | None = None
    try:
        if args.command == "env":  # it diagnoses the settings: it must not need them
            return cmd_env(args, None)
        settings = Settings.load()
        return COMMANDS[args.command](args, settings)
    except SelfhealError as exc:
        _fail(exc)
        return exit_code(exc)
    except KeyboardInterrupt:
        sys.stderr.write("selfheal: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `selfheal models | head`: the reader went away, not an error
        sys.stderr.close()
        return EXIT_OK
    except db_errors() as exc:
        where = settings.database_label if settings is not None else "the database"
        reason = " ".join(str(exc).split())  # psycopg's messages span lines
        hint = (
            "check SELFHEAL_DATABASE_URL's role and that the server runs, then retry"
            if settings is not None and settings.postgres
            else "if it says 'locked', another process holds a long transaction: retry"
        )
        sys.stderr.write(f"selfheal: error: database {where}: {reason}; {hint}\n")
        return EXIT_FAILED
    except MemoryError:  # too much data for this machine: not a bug
        sys.stderr.write(
            f"selfheal: error: out of memory during `{command_name()} {args.command}`; use "
            "less data (a smaller CSV or --rows) or a machine with more memory\n"
        )
        return EXIT_FAILED
    except ImportError as exc:  # a dependency missing from this interpreter: not a bug
        name = getattr(exc, "name", None) or str(exc)
        sys.stderr.write(
            f"selfheal: error: the Python package {name!r} is missing from {sys.executable}; "
            "run `make install` and use .venv/bin/selfheal (or `source .venv/bin/activate` "
            "first)\n"
        )
        return EXIT_FAILED
    except Exception as exc:  # a bug: still one line, never a traceback
        sys.stderr.write(
            f"selfheal: error: unexpected {type(exc).__name__}: "
            f"{' '.join(str(exc).split())}; {BUG}\n"
        )
        return EXIT_FAILED


def _fail(exc: SelfhealError) -> None:
    message = " ".join(exc.message.split())
    sys.stderr.write(f"selfheal: error: {message}\n")
