"""Shared plumbing for the private test servers: free ports, ready polling, process teardown.

Everything here is test-only. The server classes (``SeaweedS3``, ``PrivatePostgres``,
``PrivateRedis``) build on :class:`ManagedServer`, which gives them the common life cycle:

- ``start()`` launches the process and polls a ready-check until a deadline (no fixed sleeps);
  if the process dies or the deadline passes, the tail of its log is put in the exception;
- ``stop()`` terminates it (then kills it after a timeout) but keeps ports and data dir, so a
  later ``start()`` simulates a restart after an outage;
- ``close()`` (also ``__exit__``) stops it and removes its data dir and leftovers.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar

__all__ = [
    "LOG_TAIL_CHARS",
    "ManagedServer",
    "ServerStartError",
    "free_port",
    "free_port_pair",
    "read_log_tail",
    "terminate_process",
    "wait_until",
]

#: How much of a server log goes into a startup-failure message: enough for the real error,
#: short enough to read in a pytest report.
LOG_TAIL_CHARS = 4000

#: Poll interval for ready-checks: short, since every server here is up in well under 2 s.
POLL_INTERVAL_S = 0.05

HOST = "127.0.0.1"

T = TypeVar("T")


class ServerStartError(RuntimeError):
    """A private test server did not become ready; the message holds the tail of its log."""


def _port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(exclude: Sequence[int] = (), host: str = HOST) -> int:
    """Return a TCP port that is free on ``host`` now (the kernel picks it: bind to port 0)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port: int = s.getsockname()[1]
        if port not in exclude:
            return port


def free_port_pair(offset: int = 10000, exclude: Sequence[int] = (), host: str = HOST) -> int:
    """Return a free port P such that P + ``offset`` is free too.

    SeaweedFS opens gRPC on every HTTP port + 10000, so P must stay below 65536 - offset.
    ``exclude`` lists ports already handed out (both P and P + offset are checked against it).
    """
    taken = set(exclude)
    for _ in range(1000):
        port = free_port(host=host)
        if port + offset > 65535 or port in taken or port + offset in taken:
            continue
        if port - offset in taken:  # our P would be someone else's gRPC port
            continue
        if _port_is_free(port + offset, host):
            return port
    raise RuntimeError(f"no free port pair (P, P+{offset}) found")


def read_log_tail(path: Path, limit: int = LOG_TAIL_CHARS) -> str:
    """Return the last ``limit`` characters of a log file ('' if it does not exist)."""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", errors="replace")


def terminate_process(
    proc: subprocess.Popen[Any],
    timeout: float = 10.0,
    sig: int = signal.SIGTERM,
) -> int | None:
    """Send ``sig`` (default SIGTERM), wait up to ``timeout`` s, then SIGKILL; return the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout)
    return proc.returncode


def wait_until(
    check: Callable[[], T],
    *,
    timeout: float,
    what: str,
    proc: subprocess.Popen[Any] | None = None,
    log_path: Path | None = None,
    interval: float = POLL_INTERVAL_S,
    error: type[Exception] = ServerStartError,
) -> T:
    """Poll ``check`` until it returns something truthy; return that.

    ``check`` may raise: exceptions count as "not ready yet" and the last one is reported.
    Raises ``error`` (:class:`ServerStartError`, with the log tail) if ``proc`` exits or ``timeout`` passes.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:
            last_exc = exc
        if proc is not None and proc.poll() is not None:
            reason = f"{what}: process exited with code {proc.returncode} before it was ready"
            break
        if time.monotonic() >= deadline:
            reason = f"{what}: not ready after {timeout:.0f} s"
            break
        time.sleep(interval)  # sleep-ok: the poll interval of a condition with a deadline
    msg = reason
    if last_exc is not None:
        msg += f"\nlast ready-check error: {type(last_exc).__name__}: {last_exc}"
    if log_path is not None:
        msg += f"\n--- tail of {log_path} ---\n{read_log_tail(log_path)}"
    raise error(msg)


#: Servers started and not yet closed; closed at interpreter exit so that an aborted test session
#: leaves no processes or temp dirs behind.
_LIVE: weakref.WeakSet[ManagedServer] = weakref.WeakSet()


@atexit.register
def _close_leftovers() -> None:
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.close()


class ManagedServer:
    """Base class: one child process, a private data dir, start/stop/close and context-manager use.

    Subclasses implement :meth:`_launch` (start the process, return it) and :meth:`_ready`
    (one ready probe), and may override :meth:`_shutdown` and :meth:`_cleanup_extra`.
    """

    #: Short name used in messages and as the temp-dir prefix.
    name = "server"
    #: Log file name inside the data dir.
    log_name = "server.log"
    #: close() kills at once instead of a graceful stop (for servers whose data is throwaway
    #: and whose graceful stop is slow).
    kill_on_close = False

    def __init__(
        self,
        *,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._base_dir = base_dir
        self.data_dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        #: Seconds the last start() took until the ready-check passed.
        self.last_start_seconds: float | None = None

    # -- subclass hooks ------------------------------------------------------------------
    def _prepare(self) -> None:
        """Called once, before the first start, with ``data_dir`` created (choose ports here)."""

    def _launch(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _shutdown(self, proc: subprocess.Popen[bytes]) -> None:
        terminate_process(proc, self.stop_timeout)

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        terminate_process(proc, self.stop_timeout, sig=signal.SIGKILL)

    def _cleanup_extra(self) -> None:
        """Remove leftovers outside the data dir (sockets in /tmp and the like)."""

    # -- public life cycle ---------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        assert self.data_dir is not None, f"{self.name} was never started"
        return self.data_dir / self.log_name

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Self:
        """Start the server (again, on the same ports and data dir) and wait until it is ready."""
        if self.running:
            return self
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix=f"spt-{self.name}-", dir=self._base_dir))
            _LIVE.add(self)
            self._prepare()
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self._log_file.write(f"\n=== {self.name} start at {time.strftime('%H:%M:%S')} ===\n".encode())
        self._log_file.flush()
        try:
            self.proc = self._launch(self._log_file)
            started = time.monotonic()
            wait_until(
                self._ready,
                timeout=self.startup_timeout,
                what=f"{self.name} in {self.data_dir}",
                proc=self.proc,
                log_path=self.log_path,
            )
            self.last_start_seconds = time.monotonic() - started
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, *, kill: bool = False) -> None:
        """Stop the process; keep the data dir and ports so that start() can bring it back.

        By default the server is shut down gracefully; ``kill=True`` kills it at once
        (simulates a crash).
        """
        proc, self.proc = self.proc, None
        if proc is not None:
            if kill:
                self._kill(proc)
            else:
                self._shutdown(proc)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self._cleanup_extra()

    def close(self) -> None:
        """Stop the process and remove the data dir and other leftovers."""
        self.stop(kill=self.kill_on_close)
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None
        _LIVE.discard(self)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
