"""Promotion gates: the checks a retrained challenger must pass before it may replace the
production champion.

Every gate is a pure function over arrays and DataFrames that returns a `GateResult`; the
caller computes probabilities and timings, and decides what to do with a failure. Four gates,
one module each:

* `data_quality_gate` (`data_quality.py`) - the training set is usable (schema, size, class
  balance, columns).
* `statistical_gate` (`statistical.py`) - the challenger's F1 beats the champion's on the same
  time-split holdout, by a margin and with a paired bootstrap confidence interval that excludes
  zero; a first model (no champion) is held to absolute AUC and F1 floors instead.
* `stability_gate` (`stability.py`, slicing in `slices.py`) - calibration (Brier) does not
  regress and no slice of the holdout loses more than a set amount of F1.
* `consistency_gate` (`consistency.py`) - on recent live rows the challenger's outputs are
  valid, its positive rate is plausible and it is not much slower than the champion.

`GateConfig` (`config.py`) holds the thresholds; `GateResult` and `summarize` are in
`common.py`.

Conventions shared by all gates: labels are 0/1 (1 is the positive class), a row is predicted
positive when its probability is >= the threshold, and F1 is the positive-class F1 with the
zero-division case (no positive labels and no positive predictions) scored as 0. Metrics come
from `selfheal.binary_metrics` (NumPy rather than scikit-learn, so that degenerate slices never
emit warnings) and input checks from `selfheal.validation`. Malformed input raises `ValueError`
naming the gate and the argument; a model that behaves badly produces a failed `GateResult`,
not an exception. See docs/evaluation_gates.md.
"""

from __future__ import annotations

from selfheal.gates.common import GATE_NAMES, GateResult, summarize
from selfheal.gates.config import GateConfig
from selfheal.gates.consistency import consistency_gate
from selfheal.gates.data_quality import data_quality_gate
from selfheal.gates.stability import stability_gate
from selfheal.gates.statistical import statistical_gate

__all__ = [
    "GATE_NAMES",
    "GateConfig",
    "GateResult",
    "consistency_gate",
    "data_quality_gate",
    "stability_gate",
    "statistical_gate",
    "summarize",
]
