from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from selfheal.config import KIND_TYPES, SETTINGS, Settings, render_env_example
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


def test_settings_fields_match_the_declarations() -> None:
    # The dataclass is written out so that mypy checks setting names; the declarations feed
    # the docs and `load`. Same names in the same order, the type of each kind, secrets out
    # of the repr, and every default of its field's type.
    fields = dataclasses.fields(Settings)
    assert [f.name for f in fields] == [s.name for s in SETTINGS]
    for f, s in zip(fields, SETTINGS, strict=True):
        assert f.type == KIND_TYPES[s.kind].__name__, f"{f.name}: {f.type} for kind {s.kind}"
        assert f.default is dataclasses.MISSING, f"{f.name}: defaults live in SETTINGS"
        assert f.repr is not s.secret, f"{f.name}: secrets stay out of the repr"
        assert type(s.default) is KIND_TYPES[s.kind], f"{s.name}: default {s.default!r}"


def test_settings_replace_checks_names_and_keeps_the_rest() -> None:
    s = Settings.load(environ={}, env_file=os.devnull)
    t = s.replace(port=9000)
    assert (t.port, t.host, s.port) == (9000, s.host, 8000)
    with pytest.raises(ConfigError, match="prot"):
        s.replace(prot=9000)
    assert "hunter2" not in repr(s.replace(admin_token="hunter2"))


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "0.0.0.0", "::1", "::", "localhost", "api-1.example.com", "web."]
)
def test_host_accepts_addresses_and_host_names(host: str) -> None:
    s = Settings.load(environ={"SELFHEAL_HOST": host}, env_file=os.devnull)
    assert s.host == host


@pytest.mark.parametrize(
    "host",
    ["no such host", "256.1.1.1", "1.2.3", "\udcff", "[::1]", "-web", "a_b", "x" * 64, "*"],
)
def test_host_that_cannot_be_an_address_is_invalid_at_load(host: str) -> None:
    """run.py died with waitress' stacked tracebacks on these while `env --check` said ok;
    nothing is looked up at load (a name that does not resolve fails at start-up)."""
    from selfheal.config import check_environment

    with pytest.raises(ConfigError, match="SELFHEAL_HOST=") as err:
        Settings.load(environ={"SELFHEAL_HOST": host}, env_file=os.devnull)
    assert "an IP address of this machine" in err.value.message
    problems = check_environment(environ={"SELFHEAL_HOST": host}, env_file=os.devnull)
    assert len(problems) == 1 and problems[0].startswith("SELFHEAL_HOST=")


def test_a_named_env_file_must_exist(tmp_path: Path) -> None:
    """SELFHEAL_ENV_FILE=/nope fell back to the defaults in silence."""
    missing = tmp_path / "nope.env"
    with pytest.raises(ConfigError, match=f"settings file {missing} .* does not exist"):
        Settings.load(environ={"SELFHEAL_ENV_FILE": str(missing)})
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(environ={}, env_file=missing)
    assert Settings.load(environ={"SELFHEAL_ENV_FILE": os.devnull}).port == 8000


def test_the_default_env_file_may_be_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    assert Settings.load(environ={}).port == 8000


def test_an_env_file_that_is_not_utf8_is_invalid_setting(tmp_path: Path) -> None:
    from selfheal.config import check_environment

    f = tmp_path / "latin1.env"
    f.write_bytes("SELFHEAL_PORT=8001\n# café\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=f"settings file {f} is not UTF-8 text") as err:
        Settings.load(environ={}, env_file=f)
    assert err.value.code == "invalid_setting"
    problems = check_environment(environ={"SELFHEAL_PORT": "x"}, env_file=f)
    assert len(problems) == 2 and "is not UTF-8" in problems[0]
