"""A real Celery worker process (``spt-api worker``) for the production-backend tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

from spt_api.config import Settings
from tests.support._proc import read_log_tail, terminate_process

__all__ = ["CeleryWorker", "ProductionBackends", "ShardWorker", "production_env", "production_settings"]


def production_env(
    *, database_url: str, redis_url: str, storage_url: str, s3_endpoint: str, access_key: str, secret_key: str,
    data_dir: Path, extra: dict[str, str] | None = None,
) -> dict[str, str]:
    env = {
        "SPT_API_DATABASE_URL": database_url,
        "SPT_API_BROKER_URL": redis_url,
        "SPT_API_REDIS_URL": redis_url,
        "SPT_API_STORAGE_URL": storage_url,
        "SPT_API_S3_ENDPOINT_URL": s3_endpoint,
        "SPT_API_S3_ACCESS_KEY_ID": access_key,
        "SPT_API_S3_SECRET_ACCESS_KEY": secret_key,
        "SPT_API_DATA_DIR": str(data_dir),
        "SPT_API_HEARTBEAT_INTERVAL": "1",
    }
    env.update(extra or {})
    return env


def production_settings(
    *, database_url: str, redis_url: str, storage_url: str, s3_endpoint: str, access_key: str, secret_key: str,
    data_dir: Path, **overrides: Any,
) -> Settings:
    """Settings of an API server on PostgreSQL, Redis (broker and events) and S3, tuned for quick tests."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "broker_url": redis_url,
        "redis_url": redis_url,
        "storage_url": storage_url,
        "s3_endpoint_url": s3_endpoint,
        "s3_access_key_id": access_key,
        "s3_secret_access_key": secret_key,
        "wait_max": 30,
        "heartbeat_interval": 1,
        "reconcile_interval": 1,
        "max_body_size": 1024 * 1024,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class ProductionBackends:
    """Where a production-mode server and its workers keep things: PostgreSQL, Redis, an S3 bucket prefix.

    ``env()`` configures worker subprocesses and ``settings()`` an API server, with the same endpoints;
    subclasses set their own test-friendly defaults.
    """

    database_url: str
    redis_url: str
    s3: Any
    data_dir: Path
    storage_prefix: str = "results"

    settings_defaults: ClassVar[dict[str, Any]] = {}
    env_defaults: ClassVar[dict[str, str]] = {}

    @property
    def storage_url(self) -> str:
        return f"s3://{self.s3.bucket}/{self.storage_prefix}"

    def _endpoints(self) -> dict[str, Any]:
        return {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "storage_url": self.storage_url,
            "s3_endpoint": self.s3.endpoint_url,
            "access_key": self.s3.access_key,
            "secret_key": self.s3.secret_key,
            "data_dir": self.data_dir,
        }

    def env(self, **extra: str) -> dict[str, str]:
        return production_env(**self._endpoints(), extra={**self.env_defaults, **extra})

    def settings(self, **overrides: Any) -> Settings:
        return production_settings(**{**self._endpoints(), **self.settings_defaults, **overrides})


class CeleryWorker:
    """``spt-api worker`` as a subprocess with the given settings; kill() is a ``kill -9`` of the whole worker."""

    def __init__(self, env: dict[str, str], *, queues: str = "echo,cutout", concurrency: int = 2,
                 name: str = "test") -> None:
        self.env = {**os.environ, **env}
        self.queues = queues
        self.concurrency = concurrency
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="celery-worker-", suffix=".log")[1])

    def _consumes(self) -> list[str]:
        """The command-line options that say what the worker consumes."""
        return ["--queues", self.queues]

    def start(self) -> Self:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "spt_api", "worker", *self._consumes(),
             "--concurrency", str(self.concurrency), "--name", f"{self.name}-{os.getpid()}-{id(self)}@%h"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL the worker and its pool children, as when a node dies."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                return
            terminate_process(self.proc, timeout=10)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def log_tail(self) -> str:
        return read_log_tail(self.log_path)


class ShardWorker(CeleryWorker):
    """``spt-api worker --shard NAME:I``: holds one shard of a search index, consumes only its queue."""

    def __init__(self, env: dict[str, str], shard: str) -> None:
        super().__init__(env, queues="", concurrency=1, name=f"shard{shard.replace(':', '-')}")
        self.shard = shard

    def _consumes(self) -> list[str]:
        return ["--shard", self.shard]
