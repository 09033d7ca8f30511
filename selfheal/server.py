"""Serving: migrate, bootstrap a model if the registry is empty, serve on waitress.

On SIGINT/SIGTERM it stops accepting connections, lets requests in flight finish, flushes the
writer's queue, stops its threads and exits 0. `python run.py` and `selfheal serve` both end
up here.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
import time
from types import FrameType
from typing import Any

from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer

from selfheal.config import Settings
from selfheal.errors import SelfhealError
from selfheal.service import Service
from selfheal.web import create_app


class _Shutdown(SystemExit):
    """Raised in the main thread by a signal; waitress' run() turns it into a shutdown."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise _Shutdown(0)


class QuietChannel(HTTPChannel):
    """waitress's HTTP channel without its busy loop while a response is being written.

    A task thread writes its answer with `write_soon`, which sends it on the spot
    (`send_bytes` is 1). Until the thread has finished the request, the stock `writable()`
    is true while any byte is buffered, and `handle_write` sends nothing while the thread
    holds the buffer: `select` then returns at once, again and again. Under load that loop
    competes for the GIL with the very threads it waits for; at 32 threads and a group
    commit the main loop made about 20 `select` calls per request instead of one, and the
    service lost half its throughput (docs/performance.md, "The main loop's busy wait").

    Here, while a task runs, the main loop asks for writability only when the task's own
    send left bytes behind (the socket was full), and that task then pulls the trigger after
    saying so. When no task runs, and for closing, it is waitress's rule. The cases are
    those of waitress#418 (a channel writable with nothing to write)."""

    _backlogged = False  # the running task's last write left bytes for the main loop

    def writable(self) -> bool:
        if self.will_close or self.close_when_flushed:
            return True
        if not self.total_outbufs_len:
            return False
        return not self.requests or self._backlogged

    def write_soon(self, data: bytes) -> int:
        n: int = super().write_soon(data)
        # Read after the inline send, outside the buffer lock: bytes left mean the socket
        # refused them. Say so before waking the loop, so that it sees the flag.
        self._backlogged = bool(self.total_outbufs_len)
        if self._backlogged:
            self.server.pull_trigger()
        return n


def quiet_channels(server: Any) -> None:
    """Serve every connection of `server` (what `waitress.create_server` returns: one
    listener, or a MultiSocketServer over several when a host name resolves to more than one
    address) with `QuietChannel`."""
    listeners = [server] if isinstance(server, BaseWSGIServer) else server.map.values()
    for listener in list(listeners):
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = QuietChannel


def bind_failure(host: str, port: int, exc: OSError | ValueError) -> str:
    """The one line for a server that cannot listen on `host:port`: what went wrong and
    which setting fixes it (SELFHEAL_PORT for a port in use or reserved, SELFHEAL_HOST for
    an address that is not this machine's or a name that does not resolve)."""
    where = f"cannot listen on {host}:{port} (SELFHEAL_HOST:SELFHEAL_PORT)"
    fix_host = (
        "set SELFHEAL_HOST to an address of this machine (127.0.0.1, or 0.0.0.0 for every "
        "interface) or a name that resolves to one"
    )
    if isinstance(exc, (ValueError, socket.gaierror)):
        return f"{where}: the host does not resolve to an address; {fix_host}"
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno == errno.EADDRINUSE:
        return (
            f"{where}: {reason}; another process listens there: stop it or set "
            "SELFHEAL_PORT to a free port"
        )
    if exc.errno == errno.EACCES:
        return (
            f"{where}: {reason}; ports below 1024 need privileges: set SELFHEAL_PORT to "
            "1024 or above"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{where}: {reason}; {fix_host}"
    return f"{where}: {reason}; {fix_host}, and SELFHEAL_PORT to a free port"


def main() -> int:
    """`python run.py`: load the settings, then serve until a signal."""
    try:
        settings = Settings.load()
    except SelfhealError as exc:
        sys.stderr.write(f"selfheal: error: {exc.message}\n")
        return 2
    return serve(settings)


def serve(settings: Settings) -> int:
    """Migrate, bootstrap if empty, start the service threads and serve on waitress (or on
    gunicorn's pre-fork workers when `SELFHEAL_WORKERS` > 1)."""
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.workers > 1:
        return serve_workers(settings)
    log = logging.getLogger("selfheal")
    # waitress warns on every request that waits for a free thread; under load that is
    # one line per request. Queue depth is exported by /metrics instead.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        service = Service(settings)  # migrates, bootstraps a first model; no thread yet
    except SelfhealError as exc:
        sys.stderr.write(f"selfheal: error: {exc.message}\n")
        return 1
    except _Shutdown:
        return 0
    # Bind before any thread starts: a port in use is refused before a monitor cycle runs.
    try:
        server = create_server(
            create_app(service),
            host=settings.host,
            port=settings.port,
            threads=settings.threads,
            ident="selfheal",
            channel_timeout=30,
            connection_limit=1000,
        )
        quiet_channels(server)
    except (OSError, ValueError) as exc:  # waitress: ValueError when the host does not resolve
        sys.stderr.write(f"selfheal: error: {bind_failure(settings.host, settings.port, exc)}\n")
        return 1
    try:
        service.start()
    except SelfhealError as exc:
        server.close()
        sys.stderr.write(f"selfheal: error: {exc.message}\n")
        return 1
    except _Shutdown:
        server.close()
        service.stop()
        return 0
    model = service.models.current
    log.info(
        "start: serving %s on http://%s:%s with %d threads (home %s)",
        model.version if model else "no model",
        settings.host,
        settings.port,
        settings.threads,
        settings.home_path,
    )
    t0 = time.monotonic()
    try:
        server.run()  # returns after a signal: waitress stops and drains its task threads
    except _Shutdown:
        pass
    finally:
        log.info("stopping: draining writes")
        try:
            server.close()
        except Exception:  # already closed by waitress
            pass
        service.stop()
        log.info(
            "stopped after %.1f s; writer committed %d rows",
            time.monotonic() - t0,
            service.writer.stats.rows,
        )
    return 0


def serve_workers(settings: Settings) -> int:
    """`SELFHEAL_WORKERS` = N > 1: N gunicorn worker processes on one port, each with its
    own `Service` (writer, model watcher, monitor thread) and `SELFHEAL_THREADS` threads
    (gunicorn's gthread worker). The processes share the PostgreSQL database and the
    registry; the leader lease picks the one that runs the monitor. gunicorn is a
    well-kept pre-fork server: it restarts a worker that dies and drains on SIGTERM."""
    if not settings.postgres:
        sys.stderr.write(
            f"selfheal: error: SELFHEAL_WORKERS={settings.workers} needs PostgreSQL: "
            "processes on one SQLite file would each commit their own batches and wait on "
            "each other's locks. Set SELFHEAL_DATABASE_URL=postgresql://... "
            "(docs/architecture.md, 'Scaling beyond one machine'), or SELFHEAL_WORKERS=1\n"
        )
        return 2
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        sys.stderr.write(
            "selfheal: error: SELFHEAL_WORKERS > 1 runs gunicorn, which is not installed: "
            "pip install -e '.[server]' (or set SELFHEAL_WORKERS=1)\n"
        )
        return 2
    try:
        probe = socket.create_server((settings.host, settings.port), reuse_port=False)
        probe.close()
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"selfheal: error: {bind_failure(settings.host, settings.port, exc)}\n")
        return 1
    # Once, before the fork: the workers find the schema migrated and a model serving. In a
    # child process (`selfheal init`, same settings), not here: training starts OpenMP's
    # thread team, and a team does not survive fork(): the workers' first parallel predict
    # would wait on threads that do not exist (it hung every worker).
    import subprocess

    init = subprocess.run(
        [sys.executable, "-m", "selfheal", "init"],
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        lines = [ln for ln in init.stderr.splitlines() if ln.strip()]
        sys.stderr.write((lines[-1] if lines else "selfheal: error: `selfheal init` failed") + "\n")
        return 1
    if init.stdout.strip():
        logging.getLogger("selfheal").info("%s", init.stdout.strip())

    services: list[Service] = []

    def worker_exit(server: object, worker: object) -> None:
        for service in services:  # drain this worker's writer: every 200 stays committed
            service.stop()

    class Workers(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": f"{settings.host}:{settings.port}",
                "workers": settings.workers,
                "threads": settings.threads,
                "worker_class": "gthread",
                "timeout": 60,
                "graceful_timeout": 30,
                "keepalive": 5,
                "worker_connections": 1000,
                "loglevel": settings.log_level.lower(),
                "proc_name": "selfheal",
                "worker_exit": worker_exit,
            }
            # gunicorn >= 24 opens a control socket at one path per user, and a second
            # server takes it from the first: selfheal does not use it.
            if "control_socket_disable" in self.cfg.settings:
                options["control_socket_disable"] = True
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> object:
            # In each worker, after the fork: its own connections and threads.
            service = Service(settings)
            service.start()
            services.append(service)
            return create_app(service)

    logging.getLogger("selfheal").info(
        "start: %d worker processes x %d threads on http://%s:%s (database %s)",
        settings.workers,
        settings.threads,
        settings.host,
        settings.port,
        settings.database_label,
    )
    Workers().run()  # returns when the arbiter stops (SIGTERM/SIGINT: graceful)
    return 0
