"""`server.QuietChannel`: waitress's channel without the main loop's busy wait.

Each test runs a real waitress server (in a thread of this process, on a free loopback
port) with the channel the service uses, and real sockets. The WSGI apps here stand in for
the service's request threads: one releases its requests in groups, as the writer's group
commit does; one streams a body larger than waitress's output high-water mark to a slow
reader, the case where a task must wait for the main loop to send.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from waitress import create_server, wasyncore
from waitress.channel import HTTPChannel

from selfheal.server import QuietChannel, quiet_channels
from selfheal.writer import Done

App = Callable[[dict[str, Any], Callable[..., Any]], Any]


def _serve(app: App, channel: type[HTTPChannel], threads: int) -> tuple[Any, threading.Thread]:
    server = create_server(app, host="127.0.0.1", port=0, threads=threads, ident="test")
    if channel is QuietChannel:
        quiet_channels(server)
    else:
        server.channel_class = channel
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server, thread


def _stop(server: Any, thread: threading.Thread) -> None:
    server.close()
    server.task_dispatcher.shutdown()
    thread.join(5)


class _GroupRelease:
    """A WSGI app whose requests wait for a group release every `period` seconds, as
    `/predict` waits for the writer's group commit; each answer is a small JSON body."""

    def __init__(self, period: float = 0.003) -> None:
        self.cv = threading.Condition()
        self.generation = 0
        self.period = period
        self.stopped = False
        self.thread = threading.Thread(target=self._release, daemon=True)
        self.thread.start()

    def _release(self) -> None:
        while not self.stopped:
            time.sleep(self.period)
            with self.cv:
                self.generation += 1
                self.cv.notify_all()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        with self.cv:
            seen = self.generation
            self.cv.wait_for(lambda: self.generation != seen, timeout=5)
        body = b'{"prediction": 0, "probability": 0.25}'
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


def _load(port: int, clients: int, per_client: int) -> int:
    """`clients` keep-alive connections, each sending `per_client` POSTs; the 200s."""
    oks = [0] * clients

    def client(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(per_client):
            conn.request("POST", "/predict", body=b'{"x": 1}', headers={"Content-Type": "a/j"})
            response = conn.getresponse()
            assert response.read().startswith(b'{"prediction"')
            oks[i] += response.status == 200
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return sum(oks)


def test_main_loop_does_not_spin_while_grouped_answers_are_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under 16 connections whose answers are released in groups, waitress's stock channel
    is writable while a task thread still holds its buffer, and the main loop calls
    select() again and again without sending (about 20 times per request in the bench).
    The quiet channel asks for writability only when a send left bytes behind: the loop
    wakes about once per request."""
    polls = 0
    real_poll = wasyncore.poll

    def counting_poll(timeout: float = 0.0, map: Any = None) -> None:
        nonlocal polls
        polls += 1
        real_poll(timeout, map)

    monkeypatch.setattr(wasyncore, "poll", counting_poll)
    app = _GroupRelease()
    server, thread = _serve(app, QuietChannel, threads=16)
    try:
        clients, per_client = 16, 40
        before = polls
        oks = _load(server.effective_port, clients, per_client)
        per_request = (polls - before) / oks
    finally:
        app.stopped = True
        _stop(server, thread)
    assert oks == clients * per_client
    assert per_request < 4, f"{per_request:.1f} main-loop polls per request"


def test_a_body_beyond_the_high_water_mark_reaches_a_slow_reader_whole() -> None:
    """A task that writes more than waitress's output high-water mark (16 MiB) waits for
    the main loop to send; the quiet channel must then still ask for writability, or the
    task and the loop wait for each other. The client reads only after a pause, so that the
    sockets fill, the task's own sends leave bytes behind and its buffer passes the mark."""
    chunk = bytes(range(256)) * 4096  # 1 MiB
    chunks = 40

    def big(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", str(len(chunk) * chunks)),
            ],
        )
        for _ in range(chunks):
            yield chunk

    server, thread = _serve(big, QuietChannel, threads=2)
    try:
        sock = socket.create_connection(("127.0.0.1", server.effective_port), timeout=20)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        time.sleep(0.5)  # the sockets fill; the task's sends come back short
        received = bytearray()
        t0 = time.monotonic()
        while True:
            data = sock.recv(1 << 20)
            if not data:
                break
            received += data
        sock.close()
        elapsed = time.monotonic() - t0
    finally:
        _stop(server, thread)
    head, _, payload = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert payload == chunk * chunks
    assert elapsed < 15


def test_every_listener_of_a_multi_socket_server_gets_the_quiet_channel() -> None:
    """A host name that resolves to several addresses gives waitress several listeners
    behind one MultiSocketServer; each must serve with the quiet channel."""
    app = _GroupRelease()
    server = create_server(app, listen="127.0.0.1:0 127.0.0.1:0", threads=1, ident="test")
    try:
        quiet_channels(server)
        listeners = [s for s in server.map.values() if hasattr(s, "channel_class")]
        assert len(listeners) == 2
        assert all(s.channel_class is QuietChannel for s in listeners)
    finally:
        app.stopped = True
        for listener in list(server.map.values()):
            listener.close()
        server.task_dispatcher.shutdown()


def test_done_is_a_one_shot_signal_like_an_event() -> None:
    done = Done()
    assert not done.is_set()
    t0 = time.monotonic()
    assert done.wait(0.05) is False
    assert time.monotonic() - t0 >= 0.04
    threading.Timer(0.05, done.set).start()
    assert done.wait(5) is True
    assert done.is_set()
    assert done.wait(0) is True  # a second wait returns at once
    assert done.wait() is True
    done.set()  # a second set changes nothing
    assert done.wait(0) is True
