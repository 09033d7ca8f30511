"""`python run.py`: migrate, bootstrap a model if the registry is empty, then serve the API
and run the monitor until SIGINT/SIGTERM (see selfheal/server.py)."""

from __future__ import annotations

import os
import sys

# Idle OpenMP workers sleep instead of spinning: this process shares its cores between
# request threads, the scoring thread and a retrain, and spinning workers steal them
# (retrain-heavy tests ran 16-19% faster beside a busy core; docs/performance.md). Set before
# scikit-learn loads the OpenMP runtime; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from selfheal.server import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
