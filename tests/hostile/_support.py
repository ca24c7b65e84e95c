"""Raw-socket helpers of the hostile tests (requests no HTTP client library would send)."""

from __future__ import annotations

import socket

from tests.support.server import RunningServer

#: An origin the shared server trusts for CORS (any other is refused).
TRUSTED_ORIGIN = "https://trusted.example.org"


def port_of(server: RunningServer) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def raw_request(server: RunningServer, data: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes, then read the answer until the server closes the connection or stops sending."""
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server may answer and close before it has read everything
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


