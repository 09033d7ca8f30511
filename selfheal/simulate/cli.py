"""The command line of `selfheal simulate`: argument parsing, dispatch and exit codes.

`main` returns 0 when all went well, 1 when something failed (or the server is unhealthy,
or the installation incomplete) and 2 for bad arguments; errors are one stderr line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import IO, Any, NoReturn

from selfheal.errors import ConfigError, SelfhealError
from selfheal.simulate.client import Client, SimulationError, _one_line, default_url
from selfheal.simulate.labels import send_labels
from selfheal.simulate.progress import StatusLine
from selfheal.simulate.sender import (
    check_drift,
    generate_predictions,
    inject_drift,
    production_traffic,
    run_monitor,
)
from selfheal.simulate.summaries import _num, format_result, health_summary, stats_summary
from selfheal.simulate.verify import verify_installation

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# Codes of errors in what the caller passed (exit 2), as opposed to failures (exit 1).
_USAGE_CODES = {
    "invalid_argument",
    "invalid_drift_type",
    "invalid_url",
    "invalid_setting",
    "no_reference",
}


class _SimulateParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(
            f"selfheal: error: {_one_line(message)} (see 'selfheal simulate --help')\n"
        )
        raise SystemExit(EXIT_USAGE)


# The range of every integer option: an unbounded N reached numpy as "Maximum allowed
# dimension exceeded" (every record is built in memory before it is sent).
MAX_RECORDS = 1_000_000
MAX_SEED = 2**32 - 1  # numpy's random seed range, as SELFHEAL_SEED


def _int_range(low: int, high: int) -> Callable[[str], int]:
    """An argparse `type`: an integer from `low` to `high`, else an error naming both."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected an integer from {low} to {high}, got {text!r}"
            )
        return value

    return parse


_records = _int_range(1, MAX_RECORDS)
_seed = _int_range(0, MAX_SEED)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


_batch = _int_range(1, 1000)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to 3600, got {text!r}")
    return value


def _common_options() -> argparse.ArgumentParser:
    """The options every action takes: --url, --timeout, --quiet."""
    common = _SimulateParser(add_help=False)
    common.add_argument(
        "--url", help="server base URL (default: http://SELFHEAL_HOST:SELFHEAL_PORT)"
    )
    common.add_argument(
        "--timeout", type=_seconds, default=10.0, help="seconds to wait for each answer"
    )
    common.add_argument("--quiet", "-q", action="store_true", help="no progress lines")
    return common


def _add_traffic_actions(
    sub: argparse._SubParsersAction[Any], common: argparse.ArgumentParser
) -> None:
    """`predict` and `drift`."""
    pr = sub.add_parser("predict", parents=[common], help="send N synthetic predictions")
    pr.add_argument("n", type=_records, metavar="N", help=f"number of records, 1 to {MAX_RECORDS}")
    pr.add_argument("--seed", type=_seed, default=0, help=f"data seed, 0 to {MAX_SEED} (default 0)")
    pr.add_argument("--drift", metavar="TYPE", help="covariate, population or concept")
    pr.add_argument(
        "--labels",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="send the ground-truth labels now (default: only for concept drift); the "
        "others are kept for `simulate labels`",
    )
    pr.add_argument(
        "--label-fraction",
        type=_fraction,
        help="share labeled now, 0 to 1 (implies --labels; default 1)",
    )
    pr.add_argument("--batch", type=_batch, default=50, help="records per request (1 to 1000)")

    dr = sub.add_parser("drift", parents=[common], help="send drifted traffic")
    dr.add_argument("kind", metavar="TYPE", help="covariate, population or concept")
    dr.add_argument(
        "--n", type=_records, default=1000, help=f"records, 1 to {MAX_RECORDS} (default 1000)"
    )
    dr.add_argument("--seed", type=_seed, default=1, help=f"data seed, 0 to {MAX_SEED} (default 1)")
    dr.add_argument(
        "--labels",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="send the labels now (default: yes for concept, no otherwise)",
    )
    dr.add_argument(
        "--label-fraction",
        type=_fraction,
        help="share labeled now, 0 to 1 (implies --labels; default 1)",
    )
    dr.add_argument("--batch", type=_batch, default=50, help="records per request (1 to 1000)")
    dr.add_argument(
        "--run-monitor",
        action="store_true",
        help="then run one monitor cycle (needs SELFHEAL_ADMIN_TOKEN) and print its verdict",
    )


def _add_check_actions(
    sub: argparse._SubParsersAction[Any], common: argparse.ArgumentParser
) -> None:
    """`labels`, `stats`, `health` and `verify`."""
    lb = sub.add_parser("labels", parents=[common], help="send the labels kept for later")
    lb.add_argument(
        "--limit",
        type=_int_range(1, 100_000_000),
        help="send at most this many, 1 to 100000000 (default: all)",
    )

    st = sub.add_parser("stats", parents=[common], help="summarise /monitoring/stats")
    st.add_argument(
        "--window",
        type=_int_range(1, 1_000_000),
        default=1000,
        help="newest predictions, 1 to 1000000 (default 1000)",
    )
    sub.add_parser("health", parents=[common], help="summarise /health; exit 1 if unhealthy")
    sub.add_parser("verify", parents=[common], help="check the installation; exit 1 if not ok")


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    p = _SimulateParser(
        prog="selfheal simulate",
        description="Send synthetic traffic, drift and labels to a running server; "
        "summarise its stats and health; check the installation.",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_SimulateParser)
    sub.required = True
    _add_traffic_actions(sub, common)
    _add_check_actions(sub, common)
    return p


def _print(text: str, out: IO[str] | None = None) -> None:
    (out or sys.stdout).write(text + "\n")


def _run_verify(args: argparse.Namespace, settings: Any, url: str) -> int:
    ok, lines = verify_installation(settings, url=url, timeout=min(args.timeout, 5.0))
    for line in lines:
        _print(line)
    _print("installation ok" if ok else "installation incomplete: see the missing lines")
    return EXIT_OK if ok else EXIT_FAILED


def _run_traffic(client: Client, args: argparse.Namespace, settings: Any) -> int:
    """`predict` and `drift`: send, print the summary, fail on failed predictions or
    labels, then (`drift --run-monitor`) run one monitor cycle."""
    labels = args.labels
    if labels is None and args.label_fraction is not None:
        labels = True
    check_drift(args.drift if args.action == "predict" else args.kind)
    progress = None if args.quiet else StatusLine(sys.stderr)
    common = {
        "labels": labels,
        "label_fraction": 1.0 if args.label_fraction is None else args.label_fraction,
        "batch": args.batch,
        "progress": progress,
        "home": settings.home_path,
        "population": production_traffic(client, settings.registry_path),
    }
    try:
        if args.action == "predict":
            r = generate_predictions(client, args.n, seed=args.seed, drift=args.drift, **common)
        else:
            r = inject_drift(client, args.kind, n=args.n, seed=args.seed, **common)
    except BaseException:
        if progress is not None:
            progress.close(keep=True)
        raise
    if progress is not None:
        progress.close()
    _print(format_result(r))
    if r["failed"]:
        raise SimulationError(
            f"{r['failed']} of {r['sent']} predictions failed: {r['errors'][0]}",
            code="predictions_failed",
        )
    if r["errors"]:
        raise SimulationError(r["errors"][0], code="labels_failed")
    if args.action == "drift" and args.run_monitor:
        s = run_monitor(client)
        _print(
            f"monitor cycle: {s.get('status')}, drift share "
            f"{_num(s.get('drift_share'), '.2f')}, n {s.get('n_window')}, "
            f"decision {s.get('decision')}"
        )
    return EXIT_OK


def _run_labels(client: Client, args: argparse.Namespace, settings: Any) -> int:
    r = send_labels(client, settings.home_path, limit=args.limit)
    if not r["sent"] and not r["counts"]:
        _print(f"no pending labels in {r['path']}")
        return EXIT_OK
    counts = ", ".join(f"{v} {k}" for k, v in sorted(r["counts"].items())) or "none"
    _print(f"sent {r['sent']} labels: {counts}; {r['remaining']} left in {r['path']}")
    if r["counts"].get("not_found"):
        _print(
            f"  {r['counts']['not_found']} not found on {client.base_url} (another "
            f"server or a reset database): kept; delete {r['path']} to forget them"
        )
    return EXIT_OK


def run(args: argparse.Namespace, settings: Any) -> int:
    url = args.url or default_url(settings)
    if args.action == "verify":
        return _run_verify(args, settings, url)
    with Client(url, timeout=args.timeout, token=settings.admin_token or None) as client:
        if args.action in ("predict", "drift"):
            return _run_traffic(client, args, settings)
        if args.action == "labels":
            return _run_labels(client, args, settings)
        if args.action == "stats":
            _print(stats_summary(client, window=args.window))
            return EXIT_OK
        if args.action == "health":
            ok, text = health_summary(client)
            _print(text)
            return EXIT_OK if ok else EXIT_FAILED
    raise AssertionError(f"unhandled action {args.action}")  # pragma: no cover


def main(argv: Sequence[str] | None = None) -> int:
    """`selfheal simulate ACTION ...`: 0 ok, 1 failed or unhealthy, 2 bad arguments."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already printed)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        from selfheal.config import Settings

        settings = Settings.load()
        return run(args, settings)
    except SelfhealError as exc:
        _fail(exc.message)
        usage = isinstance(exc, ConfigError) or exc.code in _USAGE_CODES
        return EXIT_USAGE if usage else EXIT_FAILED
    except KeyboardInterrupt:
        sys.stderr.write("selfheal: interrupted\n")
        return 130
    except OSError as exc:
        _fail(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        return EXIT_FAILED
    except Exception as exc:  # never a traceback on the command line
        _fail(f"unexpected {type(exc).__name__}: {exc}; please report it")
        return EXIT_FAILED


def _fail(message: str) -> None:
    sys.stderr.write(f"selfheal: error: {_one_line(message)}\n")
