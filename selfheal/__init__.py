"""selfheal: a self-healing machine-learning service on one process and one SQLite file."""

__version__ = "0.1.0"
