"""The command-line face: parse arguments, call the core, print, map errors to exit codes.

Exit codes: 0 success, 1 an operation failed (the message says why), 2 bad arguments or
input. Errors are one line on stderr: `selfheal: error: ...`, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from selfheal.config import Settings
from selfheal.errors import ConfigError, DataError, SelfhealError, ValidationError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="selfheal", description="A self-healing machine-learning service.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    sub.add_parser("init", help="migrate the database and bootstrap v0001 if no model serves")

    t = sub.add_parser("train", help="train a new version (synthetic data unless --data)")
    t.add_argument("--data", metavar="CSV", help="training data, a CSV with a header row")
    t.add_argument("--target", metavar="COL", help="the label column of --data")
    t.add_argument(
        "--positive",
        metavar="VALUE",
        help="the target value that means the positive class (e.g. bad)",
    )
    t.add_argument("--schema", metavar="JSON", help="declared schema: hard bounds and levels")
    t.add_argument("--classifier", choices=("hgb", "logreg"), help="default: SELFHEAL_CLASSIFIER")
    t.add_argument("--seed", type=int, help="default: SELFHEAL_SEED")
    t.add_argument("--rows", type=int, help="synthetic rows when no --data")
    t.add_argument("--promote", action="store_true", help="promote the new version")
    t.add_argument("--reason", default="", help="recorded in the audit trail")

    sub.add_parser("models", help="list every version with its status and metrics")

    pr = sub.add_parser("promote", help="make VERSION the production model")
    pr.add_argument("version", metavar="VERSION")
    pr.add_argument("--reason", default="", help="recorded in the audit trail")
    pr.add_argument("--force", action="store_true", help="promote even a rejected version")

    rb = sub.add_parser("rollback", help="return production to the previous version")
    rb.add_argument("--to", metavar="VERSION", help="roll back to this version instead")
    rb.add_argument("--reason", default="", help="recorded in the audit trail")

    st = sub.add_parser("status", help="production version, counts and recent events")
    st.add_argument("--json", action="store_true", help="print JSON")

    sub.add_parser("env", help="print a .env.example with every setting and its default")
    return p


def _print_models(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("no versions yet; run `selfheal init`")
        return
    print(
        f"{'VERSION':<8} {'STATUS':<11} {'F1':>6} {'AUC':>6} {'BRIER':>6}  {'CREATED':<20} REASON"
    )
    for r in rows:
        m = r.get("metrics") or {}

        def f(k: str, m: dict[str, Any] = m) -> str:
            v = m.get(k)
            return f"{v:.3f}" if isinstance(v, (int, float)) else "-"

        created = (r.get("created_at") or "")[:19]
        print(
            f"{r['version']:<8} {r['status']:<11} {f('f1'):>6} {f('auc'):>6} "
            f"{f('brier'):>6}  {created:<20} {(r.get('reason') or '')[:60]}"
        )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from selfheal import ops

    if args.command == "env":
        from selfheal.config import render_env_example

        sys.stdout.write(render_env_example())
        return EXIT_OK
    home = ops.Home(settings)
    try:
        cmd = args.command
        if cmd == "init":
            version = ops.bootstrap(home)
            prod = home.registry.production()
            if version:
                m = home.registry.meta(version)["metrics"]
                print(
                    f"initialised {settings.home_path}: trained and promoted {version} "
                    f"(F1 {m['f1']:.3f}, AUC {m['auc']:.3f})"
                )
            else:
                print(f"already initialised: {prod} is in production")
        elif cmd == "train":
            trained = ops.train_version(
                home,
                data=args.data,
                target=args.target,
                positive=args.positive,
                schema_path=args.schema,
                classifier=args.classifier,
                seed=args.seed,
                rows=args.rows,
                promote=args.promote,
                reason=args.reason,
            )
            m = trained.metrics
            print(
                f"registered {trained.version}: F1 {m['f1']:.3f}, AUC "
                f"{m['auc'] if m['auc'] is None else round(m['auc'], 3)}, Brier "
                f"{m['brier']:.3f} on {m['holdout_rows']} holdout rows"
                + (
                    "; promoted to production"
                    if trained.promoted
                    else f"; promote it with `selfheal promote {trained.version}`"
                )
            )
        elif cmd == "models":
            _print_models(home.registry.list())
        elif cmd == "promote":
            ptr = home.registry.promote(
                args.version, reason=args.reason, actor="cli", force=args.force
            )
            print(f"promoted {ptr['version']} (previous: {ptr['previous'] or 'none'})")
        elif cmd == "rollback":
            ptr = home.registry.rollback(to=args.to, reason=args.reason, actor="cli")
            print(f"rolled back from {ptr['previous']} to {ptr['version']}")
        elif cmd == "status":
            info = ops.status(home)
            if args.json:
                print(json.dumps(info, indent=2, default=str))
            else:
                prod = info["production"]
                print(f"home:        {info['home']}")
                print(f"production:  {prod['version'] if prod else 'none (run selfheal init)'}")
                if prod:
                    m = info.get("production_metrics") or {}
                    print(
                        f"  promoted:  {prod['promoted_at']} by {prod['actor']}: {prod['reason']}"
                    )
                    print(
                        f"  holdout:   F1 {m.get('f1', 0):.3f}  AUC {m.get('auc') or 0:.3f}  "
                        f"Brier {m.get('brier', 0):.3f}"
                    )
                print(f"versions:    {info['versions']}")
                print(f"predictions: {info['predictions']}  labels: {info['labels']}")
                for ev in info["recent_events"]:
                    print(
                        f"  {ev['created_at'][:19]} {ev['event']:<11} {ev['version'] or '-':<6}"
                        f" {ev['actor']:<8} {ev['reason']}"
                    )
        return EXIT_OK
    finally:
        home.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.load()
        return run(args, settings)
    except (ConfigError, DataError, ValidationError) as exc:
        _fail(exc)
        return EXIT_USAGE
    except SelfhealError as exc:
        _fail(exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        sys.stderr.write("selfheal: interrupted\n")
        return 130


def _fail(exc: SelfhealError) -> None:
    message = " ".join(exc.message.split())
    sys.stderr.write(f"selfheal: error: {message}\n")
