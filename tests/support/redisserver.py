"""Redis for tests: a private ``redis-server`` on a spare port, and the machine's shared Redis.

:class:`PrivateRedis` runs ``redis-server --port P --save '' --appendonly no --bind 127.0.0.1``
(no persistence: a restart starts empty) for tests that stop or restart Redis::

    @pytest.fixture(scope="session")
    def redis_srv() -> Iterator[PrivateRedis]:
        with PrivateRedis() as server:
            yield server

:func:`machine_redis_url` gives ``redis://127.0.0.1:6379/<db>`` on the machine's server after
checking that it answers PING.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import IO

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support._proc import HOST, ManagedServer, free_port

__all__ = ["MACHINE_REDIS_HOST", "MACHINE_REDIS_PORT", "PrivateRedis", "machine_redis_url"]

MACHINE_REDIS_HOST = "127.0.0.1"
MACHINE_REDIS_PORT = 6379


def _probe_client(url: str) -> redis.Redis:
    # No client-side retries: redis-py 8 retries a refused connection with backoff for about
    # 3.7 s by default, which would hide a dead server from the ready-check loop.
    return redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2, retry=Retry(NoBackoff(), 0))


class PrivateRedis(ManagedServer):
    """A private, non-persistent ``redis-server``.

    Parameters
    ----------
    port
        TCP port (default: a free one, chosen at the first start and kept for restarts).
    redis_server
        Path of ``redis-server`` (default: from PATH).
    extra_args
        More command-line arguments, e.g. ``["--maxmemory", "10mb"]``.
    startup_timeout, stop_timeout, base_dir
        As for every server here.

    Attributes
    ----------
    url (``redis://127.0.0.1:PORT/0``), port, host, data_dir, log_path, last_start_seconds;
    ``url_for(db)`` gives the URL of another logical database.
    """

    name = "redis"
    log_name = "redis.log"

    def __init__(
        self,
        *,
        port: int | None = None,
        redis_server: str | None = None,
        extra_args: list[str] | None = None,
        startup_timeout: float = 20.0,
        stop_timeout: float = 10.0,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(startup_timeout=startup_timeout, stop_timeout=stop_timeout, base_dir=base_dir)
        found = redis_server or shutil.which("redis-server")
        if found is None:
            raise FileNotFoundError("redis-server not found on PATH")
        self.redis_server = found
        self.host = HOST
        self._port = port
        self.extra_args = list(extra_args or [])

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("PrivateRedis was never started")
        return self._port

    @property
    def url(self) -> str:
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        """URL of logical database ``db`` on this server."""
        return f"redis://{self.host}:{self.port}/{db}"

    def _prepare(self) -> None:
        if self._port is None:
            self._port = free_port()

    def _launch(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        assert self.data_dir is not None
        cmd = [
            self.redis_server,
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.data_dir),
            "--logfile",
            "",
        ]  # "" = log to stdout (our log file)
        cmd += self.extra_args
        return subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir
        )

    def _ready(self) -> bool:
        client = _probe_client(self.url)
        try:
            return bool(client.ping())
        finally:
            client.close()


def machine_redis_url(db: int = 0) -> str:
    """``redis://127.0.0.1:6379/<db>`` on the machine's Redis, after checking that it answers PING.

    Raises
    ------
    RuntimeError
        If the server does not answer (the message says why).
    """
    url = f"redis://{MACHINE_REDIS_HOST}:{MACHINE_REDIS_PORT}/{db}"
    client = _probe_client(url)
    try:
        if not client.ping():
            raise RuntimeError(f"machine Redis at {url} did not answer PING")
    except redis.RedisError as exc:
        raise RuntimeError(f"machine Redis at {url} not usable: {exc}") from exc
    finally:
        client.close()
    return url
