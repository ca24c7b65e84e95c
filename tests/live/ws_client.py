"""WebSocket clients for the live-update tests: Tornado's (reads as it goes) and a raw one that never reads."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from typing import Any

from tornado.websocket import WebSocketClientConnection, websocket_connect

from tests.api.uws_helpers import job_id_of
from tests.support.server import RunningServer

__all__ = ["RawSocket", "connect", "events_path", "events_url", "next_message", "read_until", "ws_url"]

#: Longest a test waits for one message (a job on a loaded 2-core machine still moves well within it).
MESSAGE_TIMEOUT = 30.0


def ws_url(base_url: str, path: str) -> str:
    return "ws" + base_url.removeprefix("http") + path


def events_path(server: RunningServer, job_url: str | None = None) -> str:
    """The path of an echo job's socket, or without ``job_url`` of ``/events`` (every job of mine)."""
    path = f"/echo/jobs/{job_id_of(job_url)}/events" if job_url else "/events"
    return server.settings.base_path + path


def events_url(server: RunningServer, job_url: str | None = None) -> str:
    """The ws:// URL of :func:`events_path`."""
    return ws_url(server.base_url, events_path(server, job_url))


async def connect(url: str, **headers: str) -> WebSocketClientConnection:
    from tornado.httpclient import HTTPRequest

    return await websocket_connect(HTTPRequest(url, headers=headers), max_message_size=64 << 20)


async def next_message(conn: WebSocketClientConnection, timeout: float = MESSAGE_TIMEOUT) -> dict[str, Any] | None:
    """The next message as JSON, or None once the server closed (``conn.close_code`` says why)."""
    raw = await asyncio.wait_for(conn.read_message(), timeout)
    if raw is None:
        return None
    data: dict[str, Any] = json.loads(raw)
    return data


async def read_until(
    conn: WebSocketClientConnection, done: Any, timeout: float = MESSAGE_TIMEOUT
) -> list[dict[str, Any]]:
    """Messages up to and including the first for which ``done(message)`` is true."""
    seen: list[dict[str, Any]] = []
    while True:
        message = await next_message(conn, timeout)
        assert message is not None, f"closed ({conn.close_code} {conn.close_reason}) after {seen}"
        seen.append(message)
        if done(message):
            return seen


class RawSocket:
    """A WebSocket client that reads nothing until told to: the slow client. Its receive buffer is
    small, so the server's messages back up after a few kilobytes."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, "the server closed during the handshake"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def read_to_close(self, timeout: float = MESSAGE_TIMEOUT) -> tuple[int, int | None]:
        """Read frames until the close frame; return (messages read, close code or None if none came)."""
        self.sock.settimeout(timeout)
        messages = 0
        try:
            while True:
                first, second = self._exact(2)
                length = second & 0x7F
                if length == 126:
                    (length,) = struct.unpack(">H", self._exact(2))
                elif length == 127:
                    (length,) = struct.unpack(">Q", self._exact(8))
                payload = self._exact(length)
                if first & 0x0F == 0x8:
                    return messages, struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else None
                messages += 1
        except ConnectionError:
            return messages, None

    def close(self) -> None:
        self.sock.close()
