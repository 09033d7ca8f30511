"""`python run.py`: migrate, bootstrap a model if the registry is empty, then serve the API
and run the monitor until SIGINT/SIGTERM (see selfheal/server.py)."""

from __future__ import annotations

import sys

from selfheal.server import main

if __name__ == "__main__":
    sys.exit(main())
