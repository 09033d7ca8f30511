"""Traffic, drift, labels and checks against a running server: `selfheal simulate ...`.

The Python replacement for the old shell scripts (generate_test_predictions.sh,
inject_drift.sh, health_check.sh, verify_setup.sh). Everything talks to the server over its
public JSON API with the standard library only (one keep-alive `http.client` connection), so
it works against any selfheal server, local or not.

Actions (`python -m selfheal simulate ACTION --help` for the options)::

    predict N     send N records like the production model's data, in batches
    drift TYPE    the same with covariate, population or concept drift (default 1,000 rows)
    labels        send the ground-truth labels that were held back earlier
    stats         a readable summary of GET /monitoring/stats
    health        a readable summary of GET /health and /model/info (exit 1 when unhealthy)
    verify        check the installation and say what is missing (exit 1 when something is)

Records
-------
`predict` and `drift` read the production model's schema from GET /model/info. For the
synthetic credit model (features age, income, credit_score, employment_years) the records
are the synthetic world's applicants (`selfheal.datasets.generate`), as always. For any other
model they are drawn by `selfheal.traffic.Population`: from the version's stored reference
sample when the registry under SELFHEAL_HOME holds that very version (same sha256 manifest;
the make targets run with the server's home), otherwise from the schema alone (training
ranges and levels, no labels: `--labels`, population and concept drift are then refused).
The drift types for any schema are described in `selfheal.traffic`.

Progress
--------
Progress goes to stderr (`StatusLine`): on a terminal one line rewritten in place, and only
once a run has lasted `StatusLine.delay` seconds; elsewhere (a pipe, a CI log) at most one
line every `StatusLine.every` seconds, none for a short run. The summary goes to stdout.

Labels
------
A label is the ground truth of one prediction; the synthetic world knows it when it draws the
applicant (`default`; under concept drift it comes from the changed ground truth), and a
reference row carries its own (flipped under concept drift). With
`--labels` it is sent right after the predictions (all of them, or `--label-fraction`).
Every label not sent then is kept, as a `{"prediction_id", "label", ...}` JSON line, in
`<SELFHEAL_HOME>/simulate/pending_labels.jsonl`; `simulate labels` sends them later (labels
arrive late in real life) and removes from the file every line the server settled (created,
unchanged, conflict, invalid). Lines the server does not know (`not_found`: another server or
a reset database) stay; delete the file to forget them.

Concept drift changes only the relationship between inputs and default, not the inputs, so
the monitor can see it only through labels: `drift concept` therefore sends its labels unless
`--no-labels` is given, and says so.

Modules
-------
`client` (the HTTP client: requests, the one retry of a closed connection, errors),
`sender` (the traffic: predictions and drift, records from `selfheal.traffic`), `labels`
(labels sent now and later), `pending` (the pending-labels file), `progress`
(`StatusLine`), `summaries` (the `stats` and `health` reports, a run's result), `verify`
(the installation check) and `cli` (argument parsing and `main`). The names below are the
public API; `python -m selfheal.simulate` runs `main`.
"""

from __future__ import annotations

from selfheal.simulate.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, build_parser, main, run
from selfheal.simulate.client import START_HINT, Client, SimulationError, api_error, default_url
from selfheal.simulate.labels import send_labels
from selfheal.simulate.pending import PENDING_FILE, pending_path
from selfheal.simulate.progress import Progress, StatusLine
from selfheal.simulate.sender import (
    DRIFT_TYPES,
    generate_predictions,
    inject_drift,
    production_traffic,
    run_monitor,
)
from selfheal.simulate.summaries import format_result, health_summary, stats_summary
from selfheal.simulate.verify import RUNTIME_DEPENDENCIES, verify_installation

__all__ = [
    "DRIFT_TYPES",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PENDING_FILE",
    "RUNTIME_DEPENDENCIES",
    "START_HINT",
    "Client",
    "Progress",
    "SimulationError",
    "StatusLine",
    "api_error",
    "build_parser",
    "default_url",
    "format_result",
    "generate_predictions",
    "health_summary",
    "inject_drift",
    "main",
    "pending_path",
    "production_traffic",
    "run",
    "run_monitor",
    "send_labels",
    "stats_summary",
    "verify_installation",
]
