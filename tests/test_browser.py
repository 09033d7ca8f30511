"""The dashboard and the drift report in a real headless Chromium.

The pages are server-rendered HTML with inline SVG, so the test asks the browser for the
DOM it built (--dump-dom) and a screenshot, and checks that the charts and key figures are
there. Chromium runs with every background-networking feature off: this machine has no
network and Chromium would otherwise keep trying to reach outside.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from selfheal import datasets
from selfheal.simulate import Client, generate_predictions
from tests.serving import Server

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]


def chromium(tmp: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium installed: .ci/run installs "
    "Debian's chromium package; install it to run the browser test",
)
def test_dashboard_and_report_render_in_chromium(tmp_path: Path, _trained_template: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(_trained_template, home)
    server = Server(home, SELFHEAL_ADMIN_TOKEN="t0ken", SELFHEAL_MONITOR_ENABLED="false").start()
    try:
        with Client(server.base, token="t0ken") as client:
            generate_predictions(client, 400, seed=3, drift="covariate", labels=True, progress=None)
            assert client.post("/monitoring/run")[0] == 200

        dom = chromium(tmp_path, server.base + "/", "--dump-dom")
        assert dom.returncode == 0, dom.stderr[-2000:]
        page = dom.stdout
        for chart in ("drift_share", "f1", "traffic", "latency"):
            assert re.search(rf'<svg[^>]*data-chart="{chart}"', page), chart
        assert re.search(r'data-key="total"[^>]*>', page)
        assert "v0001" in page and "/reports/drift/latest" in page

        report = chromium(tmp_path, server.base + "/reports/drift/latest", "--dump-dom")
        assert report.returncode == 0, report.stderr[-2000:]
        for feature in (*datasets.FEATURES, "__score__"):
            assert re.search(rf'<svg[^>]*data-feature="{feature}"', report.stdout), feature
        assert re.search(r"<rect|<path|<polyline", report.stdout)

        shot = Path(tmp_path / "dashboard.png")
        taken = chromium(
            tmp_path, server.base + "/", f"--screenshot={shot}", "--window-size=1280,1600"
        )
        assert taken.returncode == 0 and shot.stat().st_size > 10_000
    finally:
        assert server.stop() == 0
