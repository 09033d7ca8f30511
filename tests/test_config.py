from __future__ import annotations

import os
from pathlib import Path

import pytest

from selfheal.config import SETTINGS, Settings, render_env_example
from selfheal.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_need_no_environment() -> None:
    s = Settings.load(environ={}, env_file=os.devnull)
    assert s.port == 8000 and s.host == "127.0.0.1"
    assert s.db_path == Path("./var/selfheal.db")
    assert s.registry_path == Path("./var/registry")


@pytest.mark.parametrize(
    ("var", "value", "allowed"),
    [
        ("SELFHEAL_PORT", "eighty", "an integer from 1 to 65535"),
        ("SELFHEAL_PORT", "70000", "an integer from 1 to 65535"),
        ("SELFHEAL_THREADS", "0", "an integer from 1 to 512"),
        ("SELFHEAL_LOG_LEVEL", "LOUD", "one of DEBUG"),
        ("SELFHEAL_CLASSIFIER", "svm", "one of hgb, logreg"),
        ("SELFHEAL_MODEL_POLL_SECONDS", "nan", "a number from 0.05 to 60"),
        ("SELFHEAL_HOME", "", "a non-empty path"),
    ],
)
def test_bad_value_names_variable_value_and_allowed(var: str, value: str, allowed: str) -> None:
    with pytest.raises(ConfigError) as err:
        Settings.load(environ={var: value}, env_file=os.devnull)
    assert var in err.value.message and repr(value) in err.value.message
    assert allowed in err.value.message


def test_unknown_setting_is_an_error() -> None:
    with pytest.raises(ConfigError, match="SELFHEAL_PROT"):
        Settings.load(environ={"SELFHEAL_PROT": "1"}, env_file=os.devnull)


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.write_text(
        '# comment\nexport SELFHEAL_PORT=9001\nSELFHEAL_HOST="0.0.0.0"\n'
        "SELFHEAL_THREADS=4 # inline\n"
    )
    s = Settings.load(environ={"SELFHEAL_PORT": "9002"}, env_file=f)
    assert (s.port, s.host, s.threads) == (9002, "0.0.0.0", 4)


def test_env_file_syntax_error_names_line(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.write_text("SELFHEAL_PORT=1\nnot a setting\n")
    with pytest.raises(ConfigError, match=r"\.env:2"):
        Settings.load(environ={}, env_file=f)


def test_env_example_lists_every_setting_and_is_current() -> None:
    text = (ROOT / ".env.example").read_text()
    assert text == render_env_example(), "regenerate with: python -m selfheal env > .env.example"
    for s in SETTINGS:
        assert f"\n{s.env}=" in text


def test_public_view_hides_secrets() -> None:
    s = Settings.load(environ={"SELFHEAL_ADMIN_TOKEN": "hunter2"}, env_file=os.devnull)
    assert s.public()["SELFHEAL_ADMIN_TOKEN"] is True
    assert "hunter2" not in repr(s.public())
