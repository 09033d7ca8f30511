"""`python -m selfheal.simulate ACTION ...`, the same as `selfheal simulate ACTION ...`."""

from __future__ import annotations

import sys

from selfheal.simulate.cli import main

sys.exit(main())
