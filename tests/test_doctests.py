"""The examples in the docstrings are tests: exact printed values, seeded (as river's
statistics are documented). Every module of the package is collected, so a new example
runs without being listed here."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import selfheal

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(selfheal.__path__, "selfheal.")
    if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_statistics_have_examples() -> None:
    finder = doctest.DocTestFinder()
    for name in ("selfheal.stats", "selfheal.binary_metrics"):
        tests = finder.find(importlib.import_module(name))
        assert sum(len(t.examples) for t in tests) >= 5, name
