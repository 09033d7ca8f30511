"""Shared fixtures: real SQLite files and real registries under tmp_path, never mocks."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as run.py does; before sklearn loads
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from selfheal.config import Settings
from selfheal.home import Home, bootstrap

ROOT = Path(__file__).resolve().parent.parent

# A running PostgreSQL cluster to share (tests/pgcluster.py, set by tools/mutation.py): read
# before the SELFHEAL_* variables are removed below (Settings refuses unknown ones).
PG_CLUSTER_ADDRESS = os.environ.get("SELFHEAL_TEST_PG_CLUSTER") or None

# Keep a developer's own .env and SELFHEAL_* variables out of the tests.
for _k in [k for k in os.environ if k.startswith("SELFHEAL_")]:
    del os.environ[_k]
os.environ["SELFHEAL_ENV_FILE"] = os.devnull


def make_settings(home: Path, **overrides: object) -> Settings:
    return Settings.load(environ={}, env_file=os.devnull, home=str(home), **overrides)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "home", bootstrap_rows=3000)


@pytest.fixture(scope="session")
def _trained_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bootstrapped home (v0001 in production), trained once per session."""
    home = tmp_path_factory.mktemp("template") / "home"
    h = Home(make_settings(home, bootstrap_rows=3000))
    try:
        bootstrap(h)
    finally:
        h.close()
    return home


@pytest.fixture
def trained_home(tmp_path: Path, _trained_template: Path) -> Iterator[Home]:
    """A private copy of the bootstrapped home: v0001 serves, the database is migrated."""
    home = tmp_path / "home"
    shutil.copytree(_trained_template, home)
    h = Home(make_settings(home, bootstrap_rows=3000))
    yield h
    h.close()


# -- PostgreSQL: a throwaway cluster per session (tests/pgcluster.py) ---------------------
BACKENDS = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object]:
    """A PostgreSQL server of this session; skips where none can run (see pgcluster). With
    SELFHEAL_TEST_PG_CLUSTER set, the running cluster it names instead: no initdb, and it
    is left running (its owner, e.g. tools/mutation.py, stops it)."""
    pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    from tests.pgcluster import SKIP_REASON, Cluster, find_bin

    if PG_CLUSTER_ADDRESS is not None:
        yield Cluster.attach(PG_CLUSTER_ADDRESS)
        return
    bindir = find_bin()
    if bindir is None:
        pytest.skip(SKIP_REASON)
    cluster = Cluster(bindir).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: object) -> Iterator[str]:
    """The URL of a new, empty database of the session's cluster, dropped afterwards."""
    url = pg_cluster.create_database()  # type: ignore[attr-defined]
    yield url
    pg_cluster.drop_database(url)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def _pg_trained_template(
    pg_cluster: object, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """A bootstrapped home on PostgreSQL: (template database name, home with registry)."""
    url = pg_cluster.create_database()  # type: ignore[attr-defined]
    home = tmp_path_factory.mktemp("pg-template") / "home"
    h = Home(make_settings(home, bootstrap_rows=3000, database_url=url))
    try:
        bootstrap(h)
    finally:
        h.close()
    return url.rsplit("/", 1)[1], home


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Run a test on both backends: the embedded SQLite and PostgreSQL."""
    return str(request.param)


@pytest.fixture
def home_settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings of a new, empty home on `backend`."""
    extra: dict[str, object] = {}
    if backend == "postgres":
        extra["database_url"] = request.getfixturevalue("pg_url")
    return make_settings(tmp_path / "home", bootstrap_rows=3000, **extra)


@pytest.fixture
def trained_home_any(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Home]:
    """`trained_home` on `backend`: a private copy of a bootstrapped home (on PostgreSQL, a
    database created from the template database, and a copy of its registry folder)."""
    if backend == "sqlite":
        home = tmp_path / "home"
        shutil.copytree(request.getfixturevalue("_trained_template"), home)
        h = Home(make_settings(home, bootstrap_rows=3000))
        yield h
        h.close()
        return
    cluster = request.getfixturevalue("pg_cluster")
    template, template_home = request.getfixturevalue("_pg_trained_template")
    url = cluster.create_database(template=template)
    home = tmp_path / "home"
    shutil.copytree(template_home, home)
    h = Home(make_settings(home, bootstrap_rows=3000, database_url=url))
    yield h
    h.close()
    cluster.drop_database(url)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELFHEAL_")}
    env.update(
        {"SELFHEAL_HOME": str(home), "SELFHEAL_ENV_FILE": os.devnull, "PYTHONUNBUFFERED": "1"}
    )
    env.update(extra)
    return env


PYTHON = sys.executable


@pytest.fixture
def service(trained_home: Home) -> Iterator[object]:
    """A started Service (writer + model watcher threads) on a bootstrapped home."""
    from selfheal.service import Service

    svc = Service(trained_home.settings.replace(admin_token="s3cret", model_poll_seconds=0.05))
    svc.start(monitor=False)  # tests drive the monitor with run_once(now=...)
    yield svc
    svc.stop()


@pytest.fixture
def client(service: object) -> object:
    from selfheal.web import create_app

    return create_app(service).test_client()  # type: ignore[arg-type]


def register_copy(registry: object, source: str = "v0001", **kw: object) -> str:
    """Register a new version reusing `source`'s artifacts: fast, no training."""
    from selfheal.registry import Registry

    assert isinstance(registry, Registry)
    model = registry.load(source)
    frame, scores = registry.reference(source)
    args: dict[str, object] = {
        "pipeline": model.pipeline,
        "schema": model.schema,
        "metrics": model.meta["metrics"],
        "threshold": model.threshold,
        "reference": frame,
        "reference_scores": scores,
        "parent": source,
        "actor": "test",
    }
    args.update(kw)
    return registry.register(**args)  # type: ignore[arg-type]
