"""The dashboard and the drift report in a real headless Chromium.

The pages are server-rendered HTML with inline SVG, so the test asks the browser for the
DOM it built (--dump-dom) and a screenshot, and checks that the charts and key figures are
there. Chromium runs with every background-networking feature off: this machine has no
network and Chromium would otherwise keep trying to reach outside.

The dashboard has no JavaScript, so to measure its layout the test saves the page the
server sent with a small measuring script appended (the test's, never the product's) and
has Chromium lay it out at a given window width and dump the DOM with the measurements.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from selfheal import datasets
from selfheal.simulate import Client, generate_predictions
from tests.conftest import PYTHON, ROOT, subprocess_env
from tests.serving import Server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
        reason="no Chromium installed: .ci/run installs "
        "Debian's chromium package; install it to run the browser test",
    ),
]
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
TOKEN = "t0ken"

# Appended to a saved copy of the dashboard: opens every <details> (the full reasons must
# fit too), then records the page's scroll width against the window's and every element
# that reaches past the right edge of the window or of its card.
PROBE = """<script>
(function () {
  document.querySelectorAll("details").forEach(function (d) { d.open = true; });
  var root = document.documentElement, out = {
    viewport: window.innerWidth, client: root.clientWidth, scroll: root.scrollWidth,
    cards: 0, outside: []
  };
  function name(el) {
    var card = el.closest(".card"), h = card && card.querySelector("h2");
    return el.tagName.toLowerCase() + "." + (el.getAttribute("class") || "") +
      " in " + (h ? h.textContent : "page") + ": " + (el.textContent || "").slice(0, 60);
  }
  document.querySelectorAll("body *").forEach(function (el) {
    if (el.closest("#probe")) { return; }
    var r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) { return; }
    if (r.right > root.clientWidth + 0.5) { out.outside.push("window: " + name(el)); }
    var card = el.closest(".card");
    if (card && card !== el && r.right > card.getBoundingClientRect().right + 0.5) {
      out.outside.push("card: " + name(el));
    }
  });
  document.querySelectorAll(".card").forEach(function (c) {
    out.cards += 1;
    if (c.scrollWidth > c.clientWidth + 1) { out.outside.push("scroll: " + name(c)); }
  });
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def chromium(tmp: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, _trained_template: Path) -> Iterator[Server]:
    """A real run.py with a story on its dashboard: two monitor cycles (the first after
    covariate drift), and a challenger trained on shuffled labels that the gates reject
    with a long reason. The monitor does not retrain by itself, so the story is fixed."""
    tmp = tmp_path_factory.mktemp("browser")
    home = tmp / "home"
    shutil.copytree(_trained_template, home)
    env = {"SELFHEAL_ADMIN_TOKEN": TOKEN, "SELFHEAL_MONITOR_ENABLED": "false"}
    srv = Server(home, SELFHEAL_AUTO_RETRAIN="false", **env).start()
    try:
        with Client(srv.base, token=TOKEN) as client:
            generate_predictions(client, 400, seed=3, drift="covariate", labels=True, progress=None)
            assert client.post("/monitoring/run")[0] == 200
            generate_predictions(client, 300, seed=4, labels=True, progress=None)
            assert client.post("/monitoring/run")[0] == 200
        bad = tmp / "shuffled.csv"
        frame = datasets.generate(3000, seed=5)
        frame["default"] = np.random.default_rng(0).permutation(frame["default"].to_numpy())
        frame.to_csv(bad, index=False)
        train = subprocess.run(
            [PYTHON, "-m", "selfheal", "train", "--data", str(bad), "--target", "default"]
            + ["--challenge"],
            cwd=ROOT,
            env=subprocess_env(home, **env),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert train.returncode == 3, train.stdout + train.stderr  # rejected by the gates
        yield srv
    finally:
        assert srv.stop() == 0


def test_dashboard_and_report_render_in_chromium(tmp_path: Path, server: Server) -> None:
    dom = chromium(tmp_path, server.base + "/", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    for chart in ("drift_share", "f1"):  # two cycles: both are charts
        assert re.search(rf'<svg[^>]*data-chart="{chart}"', page), chart
    for chart in ("traffic", "latency"):  # a chart, or a sentence while there is one minute
        assert re.search(rf'<(svg|p)[^>]*data-chart="{chart}"', page), chart
    assert re.search(r'data-key="total"[^>]*>', page)
    assert "v0001" in page and "/reports/drift/latest" in page
    assert re.search(r'<path data-mark="rejected"', page)  # the challenger, on the timeline
    assert page.count('<details id="reason-1">') == 1 and "same reason as above" in page

    report = chromium(tmp_path, server.base + "/reports/drift/latest", "--dump-dom")
    assert report.returncode == 0, report.stderr[-2000:]
    for feature in (*datasets.FEATURES, "__score__"):
        assert re.search(rf'<svg[^>]*data-feature="{feature}"', report.stdout), feature
    assert re.search(r"<rect|<path|<polyline", report.stdout)

    shot = Path(tmp_path / "dashboard.png")
    taken = chromium(tmp_path, server.base + "/", f"--screenshot={shot}", "--window-size=1280,1600")
    assert taken.returncode == 0 and shot.stat().st_size > 10_000


@pytest.mark.parametrize("width", [800, 1400])
def test_dashboard_fits_the_window_without_horizontal_scroll(
    tmp_path: Path, server: Server, width: int
) -> None:
    with urllib.request.urlopen(server.base + "/", timeout=30) as resp:
        page = resp.read().decode()
    assert "<script" not in page.lower()  # the product page has none: the probe is ours
    saved = tmp_path / "dashboard.html"
    saved.write_text(page.replace("</body>", PROBE + "</body>", 1), encoding="utf-8")
    dom = chromium(tmp_path, saved.as_uri(), f"--window-size={width},1000", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, dom.stdout[-2000:]
    m = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert m["viewport"] == width and m["cards"] >= 8, m
    assert m["scroll"] <= m["client"], m  # no horizontal page scroll
    assert m["outside"] == [], m["outside"][:10]  # nothing sticks out of the window or a card
