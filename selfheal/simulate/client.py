"""The HTTP client of `selfheal simulate`: one keep-alive JSON connection to a server.

Standard library only (`http.client`), so it works against any selfheal server, local or
not. Every failure to get a usable answer is a `SimulationError` whose message says what
to do; an answer with an error status is the caller's to judge (`Client.expect`,
`api_error`).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from selfheal.errors import SelfhealError

START_HINT = "start it with `make run` or `make start`"


class SimulationError(SelfhealError):
    """The server could not be reached, or answered something other than what was asked."""

    code = "server_unreachable"
    http_status = 503


def _arg_error(message: str, code: str = "invalid_argument") -> SelfhealError:
    return SelfhealError(message, code=code)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class Client:
    """A JSON client over one keep-alive `http.client` connection.

    `get` and `post` return `(status, body)` for every HTTP answer, errors included; they
    raise `SimulationError` only when there is no usable answer: the server cannot be reached
    (code `server_unreachable`), does not answer within `timeout` seconds (`server_timeout`)
    or answers something that is not JSON (`bad_response`). A connection the server closed
    is reopened once, transparently.
    """

    def __init__(self, base_url: str, timeout: float = 10, token: str | None = None) -> None:
        raw = (base_url or "").strip()
        parts = urlsplit(raw)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
            raise SimulationError(
                f"invalid server URL {base_url!r}; expected e.g. http://127.0.0.1:8000",
                code="invalid_url",
            )
        if not timeout or timeout <= 0:
            raise _arg_error(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.base_url = f"{parts.scheme}://{parts.netloc}{self.prefix}"
        self.timeout = float(timeout)
        self.token = token or None
        self._conn: http.client.HTTPConnection | None = None

    # context manager + cleanup
    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def get(self, path: str) -> tuple[int, Any]:
        return self.request("GET", path)

    def post(self, path: str, payload: Any = None) -> tuple[int, Any]:
        return self.request("POST", path, payload)

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        self._conn = cls(self.host, self.port, timeout=self.timeout)
        return self._conn

    def unreachable(self, exc: BaseException) -> SimulationError:
        if isinstance(exc, ConnectionRefusedError):
            reason = "connection refused"
        elif isinstance(exc, socket.gaierror):
            reason = f"unknown host {self.host!r}"
        elif isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError)):
            reason = "the server closed the connection"
        elif isinstance(exc, OSError) and exc.strerror:
            reason = exc.strerror.lower()
        else:
            reason = str(exc) or type(exc).__name__
        hint = "check the host in --url" if isinstance(exc, socket.gaierror) else START_HINT
        return SimulationError(
            _one_line(f"cannot reach {self.base_url}: {reason}; {hint}"),
            code="server_unreachable",
        )

    def request(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        if not path.startswith("/"):
            path = "/" + path
        body = None if payload is None else json.dumps(payload, allow_nan=False).encode()
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in (1, 2):  # a stale keep-alive connection is reopened once
            reused = self._conn is not None
            conn = self._conn or self._connect()
            try:
                conn.request(method, self.prefix + path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except TimeoutError:
                self.close()
                raise SimulationError(
                    f"{self.base_url} did not answer {method} {path} within "
                    f"{self.timeout:g} s; it may be overloaded (retry with a longer --timeout)",
                    code="server_timeout",
                ) from None
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                ConnectionAbortedError,
                BrokenPipeError,
            ) as exc:
                self.close()
                if reused and attempt == 1:
                    continue
                raise self.unreachable(exc) from None
            except OSError as exc:
                self.close()
                raise self.unreachable(exc) from None
            except http.client.HTTPException as exc:
                self.close()
                raise SimulationError(
                    _one_line(f"{self.base_url} answered {method} {path} with broken HTTP: {exc}"),
                    code="bad_response",
                ) from None
            if resp.will_close:
                self.close()
            return resp.status, self._decode(method, path, resp.status, data)
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns

    def _decode(self, method: str, path: str, status: int, data: bytes) -> Any:
        try:
            return json.loads(data) if data else None
        except ValueError:
            start = data[:60].decode("utf-8", "replace")
            raise SimulationError(
                _one_line(
                    f"{self.base_url} answered {method} {path} with status {status} and a body "
                    f"that is not JSON ({start!r}...); is it a selfheal server?"
                ),
                code="bad_response",
            ) from None

    def expect(
        self, method: str, path: str, payload: Any = None, ok: Sequence[int] = (200,)
    ) -> Any:
        """`request`, raising `SimulationError` with the server's own message unless the status
        is in `ok`."""
        status, body = self.request(method, path, payload)
        if status not in ok:
            raise api_error(method, path, status, body)
        return body


def api_error(method: str, path: str, status: int, body: Any) -> SimulationError:
    """The server's error body as one readable `SimulationError` (code = the server's code)."""
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict):
        code = str(err.get("code") or "http_error")
        message = str(err.get("message") or "")
    else:
        code, message = "http_error", str(body)[:200]
    return SimulationError(
        _one_line(f"{method} {path} answered {status} {code}: {message}"), code=code
    )


def default_url(settings: Any) -> str:
    """http://SELFHEAL_HOST:SELFHEAL_PORT, with a wildcard bind address read as loopback."""
    host = str(settings.host)
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{settings.port}"
