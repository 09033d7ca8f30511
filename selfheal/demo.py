"""`python -m selfheal demo` (`make demo`): the self-healing loop, narrated, in under 2 minutes.

Against a fresh temporary home and a real `run.py` on a free loopback port, with a short
monitor interval, it shows: baseline traffic and labels; concept drift injected; the drift
and the performance drop detected; a retrain judged by the gates and promoted; a
deliberately bad candidate rejected; and a manual rollback. Every step is an HTTP call or a
CLI command a user could type; nothing reaches into the server's memory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from selfheal import datasets
from selfheal.errors import SelfhealError
from selfheal.simulate import Client, generate_predictions

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "demo-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
                "SELFHEAL_MONITOR_INTERVAL": "2",
                "SELFHEAL_COOLDOWN_SECONDS": "20",
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
            time.sleep(0.5)
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

    def run(self) -> None:
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

        self.step(1, "baseline traffic and labels")
        r = generate_predictions(self.client, 800, seed=1, labels=True, batch=100, progress=None)
        self.say(
            f"{r['ok']} predictions answered and committed, {r['labeled']} labeled; "
            f"positive rate {r['positive_rate']:.2f}"
        )
        summary = self.client.post("/monitoring/run")[1]
        self.say(
            f"monitor: status {summary['status']}, drift share "
            f"{summary['drift_share']:.2f}, live F1 {summary['live_f1']:.3f}, decision "
            f"{summary['decision']}"
        )

        self.step(2, "concept drift: the relationship between inputs and default changes")
        self.say("high income now signals over-leverage; inputs look the same as before")
        r = generate_predictions(
            self.client, 2000, seed=2, drift="concept", labels=True, batch=100, progress=None
        )
        self.say(f"{r['ok']} drifted predictions with labels from the changed ground truth")

        self.step(3, "the monitor detects the performance drop")
        report = self.wait(
            "a monitor cycle that sees the drop",
            lambda: next(
                (c for c in [self.client.get("/monitoring/drift")[1]] if c.get("trigger")), None
            ),
        )
        trig = report["report"]["triggers"]
        for name, ev in trig.items():
            self.say(
                f"trigger {name}: "
                + ", ".join(
                    f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in ev.items()
                    if not isinstance(v, (list, dict))
                )
            )
        self.say(
            f"drift share of the inputs {report['drift_share']:.2f}: concept drift hides "
            "from input tests; labels reveal it"
        )

        self.step(4, "retrain, four gates, promotion")
        new = self.wait(
            "the retrain to promote a challenger",
            lambda: (v := self.production()) != "v0001" and v,
            timeout=90,
        )
        stats = self.client.get("/monitoring/stats")[1]
        run = stats["last_retrain"]
        self.say(f"retrain {run['id']} ({run['trigger']}): {run['status']} {new}")
        self.say(f"reason: {run['reason']}")
        models = self.client.get("/models")[1]["versions"]
        meta = next(v for v in models if v["version"] == new)
        self.say(
            f"{new} holdout F1 {meta['metrics']['f1']:.3f} on the newest labeled rows; "
            f"the predecessor now runs in shadow for probation"
        )

        self.step(5, "a deliberately bad candidate is rejected")
        bad = self.home.parent / "shuffled.csv"
        frame = datasets.generate(3000, seed=5, drift="concept")
        frame["default"] = np.random.default_rng(0).permutation(frame["default"].to_numpy())
        frame.to_csv(bad, index=False)
        self.say("training on labels shuffled at random, then judging it against production")
        out = self.cli("train", "--data", str(bad), "--target", "default", "--challenge")
        for line in out.stdout.splitlines():
            if line.strip().startswith(("retrain", "FAIL", "PASS")):
                self.say(line.strip()[:160])
        self.say(f"production is still {self.production()}")

        self.step(6, "a manual rollback")
        out = self.cli("rollback", "--reason", "demo: operator rollback")
        self.say(out.stdout.strip() or out.stderr.strip())
        version = self.wait(
            "the server to pick up the rollback",
            lambda: (v := self.production()) != new and v,
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
            " selfheal models | status; sqlite3 " + str(demo.home / "selfheal.db")
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
