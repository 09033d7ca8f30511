"""The healing loop's composition root: a registry, a healer and a monitor, wired together.

Both processes that heal build their loop here and nowhere else: the server (`Service`,
whose reads are per-thread connections and whose writes go through the writer thread) and
the CLI (`Home.loop()`, which reads and writes on the Home's own connection). What differs
between them is passed in as callables; how the three parts depend on each other is
decided once, here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from selfheal import db
from selfheal.config import Settings
from selfheal.healer import Healer
from selfheal.monitor import Monitor
from selfheal.registry import PgCoordination, Registry

RecordEvent = Callable[[dict[str, Any]], None]
ReadConn = Callable[[], db.Connection]
WriteFn = Callable[[Callable[[db.Connection], Any]], Any]


@dataclass(frozen=True)
class Loop:
    registry: Registry
    healer: Healer
    monitor: Monitor


def open_registry(settings: Settings, record_event: RecordEvent) -> Registry:
    """The registry of `settings.registry_path`; its audit events go to `record_event`.

    A process opens it before its loop when other parts need it first (the server's model
    holder and metrics), and hands it to `build_loop`. On PostgreSQL its pointers, version
    allocation and lock live in the database (`PgCoordination`)."""
    coordination = PgCoordination(settings.database_url) if settings.postgres else None
    return Registry(settings.registry_path, record_event, coordination)


def build_loop(
    settings: Settings,
    registry: Registry,
    *,
    read_conn: ReadConn,
    write: WriteFn,
    background_retrain: bool,
    on_swap: Callable[[], None] | None = None,
    on_cycle: Callable[[dict[str, Any], list[dict[str, Any]]], None] | None = None,
) -> Loop:
    """A healer and a monitor on `registry` (from `open_registry`).

    Parameters
    ----------
    read_conn
        Returns the calling thread's read connection.
    write
        Runs a function in one write transaction (the server's writer, or the Home's
        connection).
    background_retrain
        True: a retrain a cycle starts runs in its own thread (the server); False: inside
        the cycle (the CLI, and deterministic tests).
    on_swap
        Called after the healer changed production, so that a server serves the new model
        at once.
    on_cycle
        Called with each cycle's summary and feature rows (the server's metrics).
    """
    healer = Healer(settings, registry, read_conn=read_conn, write=write, on_swap=on_swap)
    monitor = Monitor(
        settings,
        registry,
        healer,
        read_conn=read_conn,
        write=write,
        background_retrain=background_retrain,
        reports_dir=settings.reports_path,
        on_cycle=on_cycle,
    )
    return Loop(registry=registry, healer=healer, monitor=monitor)
