"""`python -m selfheal demo` (`make demo`): the self-healing loop, narrated, in about a minute.

Against a fresh temporary home and a real `run.py` on a free loopback port it shows:
baseline traffic and labels; covariate drift (the inputs move, the relationship holds: the
monitor reports drift and the loop's verdict is printed with its reasons); concept drift
detected through the labels, a retrain judged by the four gates and promoted; the old
relationship returning, so that the promoted model trails its predecessor in shadow and the
monitor rolls it back by itself; the new relationship returning and healed again at once;
a deliberately bad candidate rejected; and a manual rollback.

Every step is an HTTP call, a CLI command or a `sqlite3` query a user could type; nothing
reaches into the server's memory. The server's monitor thread is idle (a one-hour
interval): the demo runs each cycle itself with POST /monitoring/run, and the traffic is
seeded, so the story is the same on every run.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from selfheal import datasets
from selfheal.errors import SelfhealError, command_name
from selfheal.simulate import Client, generate_predictions

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "demo-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _num(value: Any, fmt: str = ".3f") -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "-"


class Demo:
    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.t0 = time.monotonic()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SELFHEAL_")}
        self.env.update(
            {
                "SELFHEAL_HOME": str(home),
                "SELFHEAL_PORT": str(port),
                "SELFHEAL_ENV_FILE": os.devnull,
                "SELFHEAL_ADMIN_TOKEN": TOKEN,
                # Only the demo's own POST /monitoring/run cycles act; the thread stays idle.
                "SELFHEAL_MONITOR_INTERVAL": "3600",
                "SELFHEAL_MODEL_POLL_SECONDS": "0.5",
                "SELFHEAL_LOG_LEVEL": "WARNING",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.client = Client(f"http://127.0.0.1:{port}", token=TOKEN, timeout=30)
        self.proc: subprocess.Popen[bytes] | None = None

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:5.1f}s] {text}", flush=True)

    def step(self, n: int, title: str) -> None:
        print(f"\n== {n}. {title}", flush=True)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "selfheal", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def wait(self, what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            time.sleep(0.2)
        raise SelfhealError(
            f"demo: timed out after {timeout:.0f} s waiting for {what}", code="demo_timeout"
        )

    def start(self) -> None:
        log = (self.home.parent / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "run.py"], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise SelfhealError(
                    f"demo: run.py exited early; see {self.home.parent / 'server.log'}",
                    code="demo_failed",
                )
            try:
                return self.client.get("/health")[0] == 200
            except SelfhealError:
                return False

        self.wait("the server to start", up, timeout=90)

    def stop(self) -> int | None:
        """Close the client and stop run.py (SIGTERM); return its exit code."""
        self.client.close()
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def production(self) -> str:
        return str(self.client.get("/model/info")[1]["version"])

    def serving(self, version: str) -> str:
        """Wait until the server answers with `version` (it polls the registry pointer)."""
        return str(
            self.wait(
                f"the server to serve {version}",
                lambda: (v := self.production()) == version and v,
                timeout=10,
            )
        )

    def traffic(self, n: int, seed: int, drift: str | None = None, labels: bool = True) -> None:
        r = generate_predictions(
            self.client, n, seed=seed, drift=drift, labels=labels, batch=100, progress=None
        )
        if r["failed"] or r["errors"]:
            raise SelfhealError(f"demo: traffic failed: {r['errors'][:1]}", code="demo_failed")
        versions = ", ".join(f"{v} ({c})" for v, c in sorted(r["versions"].items()))
        self.say(
            f"{r['ok']} predictions answered by {versions}, {r['labeled']} labeled; "
            f"positive rate {r['positive_rate']:.2f}"
        )

    def cycle(self) -> dict[str, Any]:
        """One monitor cycle now (POST /monitoring/run), with its verdict printed."""
        status, s = self.client.post("/monitoring/run")
        s = dict(s) if isinstance(s, dict) else {"error": s}
        if status != 200:
            raise SelfhealError(
                f"demo: the monitor cycle answered {status}: {s}", code="demo_failed"
            )
        self.say(
            f"monitor: status {s['status']}, drift share {_num(s.get('drift_share'), '.2f')}"
            f" ({', '.join(s.get('drifted_features') or []) or 'no feature drifted'}); F1 live "
            f"{_num(s.get('live_f1'))} on {s.get('n_labeled') or 0} labels, estimated "
            f"{_num(s.get('estimated_f1'))}, holdout {_num(s.get('holdout_f1'))}"
        )
        triggers = s.get("triggers") or {}
        if s["decision"] in ("probation", "rolled_back"):
            triggers = {}  # a model on probation is judged first; the triggers wait
        for name, ev in triggers.items():
            shown = [
                f"{k} {_num(v) if isinstance(v, float) else v}"
                for k, v in ev.items()
                if not isinstance(v, (list, dict)) and v is not None
            ]
            self.say(f"trigger {name}: " + ", ".join(shown))
        reason = f": {s['decision_reason']}" if s.get("decision_reason") else ""
        self.say(f"decision: {s['decision']}{reason}")
        return s

    def finished(self, run_id: int) -> dict[str, Any]:
        """Wait for retrain `run_id` (in the server's background) to end; print its gates."""

        def done() -> dict[str, Any] | None:
            run = self.client.get("/monitoring/stats?window=1")[1].get("last_retrain") or {}
            return run if run.get("id") == run_id and run.get("status") != "running" else None

        run: dict[str, Any] = self.wait(f"retrain {run_id} to finish", done, timeout=120)
        self.say(
            f"retrain {run_id} ({run['trigger']}): {run['status']} "
            f"{run.get('candidate_version') or ''}".rstrip()
        )
        for gate, passed, reason in self.gates(run_id):
            self.say(f"  {'PASS' if passed else 'FAIL'} {gate:<12} {reason[:150]}")
        return run

    def gates(self, run_id: int) -> list[tuple[str, int, str]]:
        """The audit trail's gate verdicts: the README's `sqlite3 ... gate_results` query."""
        uri = f"file:{self.home / 'selfheal.db'}?mode=ro"
        conn = sqlite3.connect(uri, uri=True)
        try:
            rows = conn.execute(
                "SELECT gate, passed, reason FROM gate_results WHERE run_id = ? ORDER BY rowid",
                (run_id,),
            ).fetchall()
        finally:
            conn.close()
        return [(str(g), int(p), str(r)) for g, p, r in rows]

    def run(self) -> None:
        """The nine steps, each a method; any failed expectation raises SelfhealError."""
        self.say(
            f"starting run.py on 127.0.0.1:{self.port}, home {self.home} "
            "(first start trains v0001 on synthetic credit data)"
        )
        self.start()
        info = self.client.get("/model/info")[1]
        self.say(
            f"serving {info['version']}: holdout F1 {info['metrics']['f1']:.3f}, "
            f"AUC {info['metrics']['auc']:.3f}, threshold {info['threshold']:.2f}"
        )

        self._baseline()
        self._covariate_drift()
        self._concept_drift()
        self._detect_and_heal()
        self._probation_rollback()
        self._healed_again()
        self._bad_candidate()
        self._manual_rollback()

    def _baseline(self) -> None:
        self.step(1, "baseline traffic and labels")
        self.traffic(800, seed=1)
        self.cycle()

    def _covariate_drift(self) -> None:
        self.step(2, "covariate drift: the inputs move, the relationship does not")
        self.say("incomes +50%, applicants 10 years older; their labels have not arrived yet")
        self.traffic(800, seed=2, drift="covariate", labels=False)
        summary = self.cycle()
        if summary["decision"] == "none" and summary.get("dataset_drift"):
            self.say("one drifting cycle is not a trigger yet: drift must hold in two in a row")
            self.traffic(400, seed=3, drift="covariate", labels=False)
            summary = self.cycle()
        if summary.get("retrain_run_id"):
            run = self.finished(int(summary["retrain_run_id"]))
            if run["status"] == "rejected":
                self.say(
                    f"production stays {self.production()}: the only labels are from before "
                    "the move, and the gates judge the challenger on them"
                )

    def _concept_drift(self) -> None:
        self.step(3, "concept drift: the relationship between inputs and default changes")
        self.say("high income now signals over-leverage; the inputs look as before")
        self.traffic(2000, seed=4, drift="concept")

    def _detect_and_heal(self) -> None:
        self.step(4, "the monitor detects the performance drop")
        summary = self.cycle()
        self.say(
            f"drift share of the inputs {_num(summary.get('drift_share'), '.2f')}: concept "
            "drift hides from input tests; labels reveal it"
        )

        self.step(5, "retrain, four gates, promotion, probation")
        if not summary.get("retrain_run_id"):
            raise SelfhealError("demo: the monitor did not retrain", code="demo_failed")
        run = self.finished(int(summary["retrain_run_id"]))
        healed = run.get("candidate_version")
        if run["status"] != "promoted" or not healed:
            raise SelfhealError(
                f"demo: retrain {run['id']} was {run['status']}", code="demo_failed"
            )
        self.serving(healed)
        self.say(
            f"the server answers with {healed}; its predecessor v0001 is scored in shadow on "
            "the same requests until 200 of them are labeled (probation)"
        )

    def _probation_rollback(self) -> None:
        self.step(6, "the old relationship returns: probation rolls back by itself")
        self.traffic(300, seed=5)
        summary = self.cycle()
        verdict = summary.get("probation") or {}
        self.say(
            f"probation of {verdict.get('version')}: {verdict.get('status')}; F1 "
            f"{_num(verdict.get('f1_new'))} vs {verdict.get('previous_version')}'s "
            f"{_num(verdict.get('f1_previous'))} on the same {verdict.get('n')} labeled "
            f"requests (allowed drop {_num(verdict.get('max_drop'), 'g')})"
        )
        if verdict.get("status") != "rolled_back":
            raise SelfhealError("demo: the probation did not roll back", code="demo_failed")
        self.say(f"the server answers with {self.serving('v0001')} again, without a restart")

    def _healed_again(self) -> None:
        self.step(7, "the new relationship returns: healed again, the cooldown notwithstanding")
        self.traffic(1000, seed=6, drift="concept")
        summary = self.cycle()
        if summary.get("retrain_run_id"):
            run = self.finished(int(summary["retrain_run_id"]))
            if run["status"] == "promoted" and run.get("candidate_version"):
                self.serving(str(run["candidate_version"]))

    def _bad_candidate(self) -> None:
        self.step(8, "a deliberately bad candidate is rejected")
        bad = self.home.parent / "shuffled.csv"
        frame = datasets.generate(3000, seed=5, drift="concept")
        frame["default"] = np.random.default_rng(0).permutation(frame["default"].to_numpy())
        frame.to_csv(bad, index=False)
        self.say("training on labels shuffled at random, then judging it against production")
        out = self.cli("train", "--data", str(bad), "--target", "default", "--challenge")
        if out.returncode not in (0, 3):  # 3: rejected by the gates, the expected verdict
            raise SelfhealError(
                f"demo: the challenge did not run: {out.stderr.strip() or out.stdout.strip()}",
                code="demo_failed",
            )
        for line in out.stdout.splitlines():
            if line.strip().startswith(("retrain", "FAIL", "PASS")):
                self.say(line.strip()[:160])
        self.say(f"production is still {self.production()}")

    def _manual_rollback(self) -> None:
        self.step(9, "a manual rollback")
        current = self.production()
        out = self.cli("rollback", "--reason", "demo: operator rollback")
        if out.returncode != 0:
            raise SelfhealError(f"demo: rollback failed: {out.stderr.strip()}", code="demo_failed")
        self.say(out.stdout.strip())
        version = self.wait(
            "the server to pick up the rollback",
            lambda: (v := self.production()) != current and v,
            timeout=10,
        )
        self.say(f"the server answers with {version} again, without a restart")
        events = self.cli("status").stdout.splitlines()
        self.say("audit trail (model_events):")
        for line in events:
            if line.startswith("  20"):
                print("        " + line.strip()[:150])


def main(keep: bool = False) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="selfheal-demo-"))
    demo = Demo(tmp / "home", _free_port())
    try:
        demo.run()
        print(
            f"\ndone in {time.monotonic() - demo.t0:.0f} s. Explore: SELFHEAL_HOME={demo.home}"
            f" {command_name()} models | status; sqlite3 " + str(demo.home / "selfheal.db")
        )
        return 0
    except SelfhealError as exc:
        sys.stderr.write(f"selfheal: error: {exc.message}\n")
        return 1
    finally:
        code = demo.stop()
        if code not in (0, None):
            sys.stderr.write(f"selfheal: error: run.py exited with {code}\n")
        if keep:
            print(f"kept {tmp} (server.log, home/)")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
