"""A throwaway PostgreSQL cluster for the tests: initdb into a temporary folder, pg_ctl on a
free loopback port, removed afterwards.

initdb refuses to run as root, and CI runs as root: then the cluster belongs to the
`postgres` system user and every server command runs through `runuser -u postgres --`.
`find_bin()` is None where no PostgreSQL is installed (`.ci/run` installs Debian's
`postgresql`); the fixtures then skip with that reason.

One cluster can serve several pytest sessions: `tools/mutation.py` starts one for a whole
mutation run and puts `Cluster.address()` into the environment variable `ENV_VAR`; conftest's
`pg_cluster` then attaches to it (`Cluster.attach`) instead of running initdb, and leaves it
running at the end of the session. Every test works in a database of its own
(`create_database`, named after the process and a random suffix), so sessions that run at the
same time on one cluster do not meet.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

ENV_VAR = "SELFHEAL_TEST_PG_CLUSTER"  # the address of a running cluster to attach to

SKIP_REASON = (
    "no PostgreSQL server binaries (initdb, pg_ctl) on this machine: install Debian's "
    "postgresql package (.ci/run does)"
)


def find_bin() -> Path | None:
    """The folder holding initdb and pg_ctl: PATH first, then Debian's versioned folders.
    None also when running as root without a `postgres` user to run the server as."""
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return None
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One PostgreSQL server for a test session. `url(name)` names a database of it."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.base = Path(tempfile.mkdtemp(prefix="selfheal-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = _free_port()
        self.host = "127.0.0.1"
        self.user = "postgres"  # the superuser initdb creates (trust authentication)
        self.as_root = os.geteuid() == 0
        self.external = False  # True when attached: started and stopped by someone else
        self._counter = 0

    def address(self) -> str:
        """What `attach` needs to use this running cluster from another process (JSON)."""
        return json.dumps(
            {
                "host": self.host,
                "port": self.port,
                "user": self.user,
                "bindir": str(self.bindir),
                "base": str(self.base),
            },
            sort_keys=True,
        )

    @classmethod
    def attach(cls, address: str) -> Cluster:
        """The running cluster that `address()` described, checked to answer; its owner
        stops it (`stop` is then refused)."""
        info = json.loads(address)
        self = cls.__new__(cls)
        self.bindir = Path(info["bindir"])
        self.base = Path(info["base"])
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = int(info["port"])
        self.host = str(info["host"])
        self.user = str(info["user"])
        self.as_root = os.geteuid() == 0
        self.external = True
        self._counter = 0
        try:
            psycopg.connect(self.url(), connect_timeout=10).close()
        except psycopg.Error as exc:
            raise RuntimeError(
                f"{ENV_VAR} names a PostgreSQL cluster at {self.host}:{self.port} that does "
                f"not answer ({exc}); unset it to let the tests start their own"
            ) from None
        return self

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        proc = subprocess.run(
            [*prefix, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}"
            )

    def start(self) -> Cluster:
        self._initdb()
        self._start()
        return self

    def restart(self) -> None:
        """Stop the server at once (as a crash would) and start it again on the same port."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        self._start()

    def _initdb(self) -> None:
        if self.as_root:
            shutil.chown(self.base, "postgres", "postgres")
        os.chmod(self.base, 0o755)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )

    def _start(self) -> None:
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.base}",  # the socket folder
                "-c listen_addresses=127.0.0.1",
                "-c max_connections=300",
                "-c fsync=off",  # a test cluster: speed over surviving a power loss
                "-c full_page_writes=off",
                "-c shared_buffers=64MB",
            ]
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def url(self, name: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{name}"

    def create_database(self, template: str | None = None) -> str:
        """A new empty database (or a copy of `template`); returns its URL."""
        self._counter += 1
        # unique across the sessions sharing an attached cluster (a process id can recur)
        name = f"t{os.getpid()}_{self._counter}_{secrets.token_hex(4)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            if template is None:
                conn.execute(f'CREATE DATABASE "{name}"')
            else:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.external:
            raise RuntimeError("an attached cluster is stopped by the process that started it")
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
