"""The docs are tested: a route, a setting or an error code missing from them fails here."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from selfheal.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def app_routes(client: Any) -> set[tuple[str, str]]:
    return {
        (m, rule.rule)
        for rule in client.application.url_map.iter_rules()
        if rule.endpoint != "static"
        for m in rule.methods - {"HEAD", "OPTIONS"}
    }


def test_every_route_is_in_api_md_with_a_curl_example(client: Any) -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    headings = set(re.findall(r"^## (GET|POST|PUT|DELETE) (\S+)", text, re.M))
    missing = app_routes(client) - headings
    assert not missing, f"routes missing from docs/api.md: {sorted(missing)}"
    for method, path in headings:
        section = text.split(f"## {method} {path}", 1)[1].split("\n## ", 1)[0]
        assert "curl" in section and path in section, f"{method} {path} has no curl example"


def test_every_route_is_in_the_openapi_document(client: Any) -> None:
    spec = client.get("/openapi.json").get_json()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    missing = app_routes(client) - documented
    assert not missing, f"routes missing from /openapi.json: {sorted(missing)}"


def test_every_setting_is_in_env_example() -> None:
    text = (ROOT / ".env.example").read_text()
    for s in SETTINGS:
        assert re.search(rf"^{s.env}=", text, re.M), s.env


def test_every_api_error_code_is_in_api_md() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    codes: set[str] = set()
    for path in (ROOT / "selfheal").rglob("*.py"):
        if path.name in _CLIENT_SIDE or path.parent.name in _CLIENT_SIDE:
            continue
        src = path.read_text()
        codes.update(re.findall(r'code="([a-z_]+)"', src))
        codes.update(re.findall(r'^\s+code = "([a-z_]+)"', src, re.M))
        codes.update(re.findall(r'ApiError\(\s*\d+,\s*"([a-z_]+)"', src))
    api_codes = {c for c in codes if c not in _NOT_HTTP}
    missing = sorted(c for c in api_codes if f"`{c}`" not in text)
    assert not missing, f"error codes missing from docs/api.md: {missing}"


# Modules that run in the operator's process, not the server's.
_CLIENT_SIDE = {"simulate", "demo.py", "cli.py"}

# Codes that only the CLI or start-up can emit (documented in docs/troubleshooting.md).
_NOT_HTTP = {
    "invalid_setting",
    "invalid_data",
    "file_not_found",
    "invalid_target",
    "ambiguous_target",
    "invalid_arguments",
    "invalid_classifier",
    "invalid_drift_type",
    "invalid_header",
    "duplicate_column",
    "empty_column",
    "constant_column",
    "looks_numeric",
    "migration_failed",
    "migrations_missing",
    "migrations_invalid",
    "database_too_new",
    "selfheal_error",
    "registry_error",
    "unavailable",
    "conflict",
    "gate_rejected",
}


def test_readme_settings_table_is_current() -> None:
    from selfheal.config import render_settings_table

    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- settings:begin", 1)[1].split("-->", 1)[1]
    block = block.split("<!-- settings:end -->", 1)[0].strip()
    assert block == render_settings_table(), "regenerate the README table from SETTINGS"


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):.*## ", text, re.M))


def test_every_makefile_target_is_documented() -> None:
    docs = (ROOT / "README.md").read_text() + "".join(
        p.read_text() for p in (ROOT / "docs").glob("*.md")
    )
    missing = sorted(t for t in makefile_targets() if f"`{t}" not in docs)
    assert not missing, f"Makefile targets missing from README/docs: {missing}"


def test_the_operations_vocabulary_is_in_the_makefile() -> None:
    wanted = {
        "setup",
        "run",
        "test",
        "lint",
        "format",
        "init",
        "train",
        "retrain",
        "promote",
        "rollback",
        "models",
        "clean",
        "monitor",
        "report",
        "demo",
        "bench",
        "generate-predictions",
        "inject-drift",
        "send-labels",
        "stats",
        "health",
        "verify",
        "bootstrap",
        "start",
        "stop",
        "restart",
        "logs",
        "test-unit",
        "test-integration",
        "test-coverage",
        "quality",
        "clear-predictions",
        "clean-data",
        "clean-models",
        "clean-all",
        "quick-start",
        "quick-test",
        "api-docs",
        "pre-commit",
        "help",
        "backup",
        "prune",
    }
    assert wanted <= makefile_targets(), wanted - makefile_targets()


def all_error_codes() -> set[str]:
    """Every error code the package can emit, found in its source."""
    codes: set[str] = set()
    for path in (ROOT / "selfheal").rglob("*.py"):
        src = path.read_text()
        codes.update(re.findall(r'code="([a-z_]+)"', src))
        codes.update(re.findall(r'^\s+code = "([a-z_]+)"', src, re.M))
        codes.update(re.findall(r'ApiError\(\s*\d+,\s*"([a-z_]+)"', src))
        codes.update(re.findall(r'_arg_error\([^)]*code="([a-z_]+)"', src))
    from selfheal import schema
    from selfheal.web.common import HTTP_CODES

    codes.update(HTTP_CODES.values())
    codes.update(
        v
        for k, v in vars(schema).items()
        if k.isupper() and isinstance(v, str) and k not in ("NUMERIC", "CATEGORICAL")
    )
    return codes


def test_every_error_code_is_in_troubleshooting_md() -> None:
    text = (ROOT / "docs" / "troubleshooting.md").read_text()
    codes = all_error_codes()
    assert len(codes) > 40  # the scan itself works
    missing = sorted(c for c in codes if f"`{c}`" not in text)
    assert not missing, f"error codes missing from docs/troubleshooting.md: {missing}"


def test_every_cli_command_is_in_the_readme() -> None:
    from selfheal.cli import COMMANDS

    text = (ROOT / "README.md").read_text()
    missing = sorted(c for c in [*COMMANDS, "simulate"] if f"`{c}" not in text)
    assert not missing, f"CLI commands missing from README.md: {missing}"


@pytest.mark.parametrize(
    ("target", "variables", "expected"),
    [
        (
            "promote",
            ["VERSION=v0002", "FORCE=1", "REASON=hot fix"],
            'promote "v0002" --force --reason "hot fix"',
        ),
        ("rollback", ["TO=v0001", "REASON=bad"], 'rollback --to "v0001" --reason "bad"'),
        ("retrain", ["REASON=new data"], 'retrain --reason "new data"'),
        ("monitor", ["JSON=1"], "monitor --once --json"),
        (
            "train",
            ["DATA=a.csv", "TARGET=y", "CATEGORICAL=r c", "CHALLENGE=1"],
            '--categorical "r" --categorical "c"',
        ),
    ],
)
def test_make_targets_reach_the_options_a_runbook_step_needs(
    target: str, variables: list[str], expected: str
) -> None:
    out = subprocess.run(
        ["make", "-n", "--assume-old=.venv/.installed-runtime", target, *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        env={k: v for k, v in os.environ.items() if k != "MAKEFLAGS"},
    )
    assert out.returncode == 0, out.stderr
    assert expected in " ".join(out.stdout.replace("\\\n", " ").split()), out.stdout
