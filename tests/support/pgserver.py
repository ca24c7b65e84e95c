"""PostgreSQL for tests: a private throwaway instance, and throwaway databases on the machine's server.

:class:`PrivatePostgres` runs its own ``postgres`` (the machine's binaries under
``/usr/lib/postgresql/<version>/bin``) on a spare port with a temp data dir, trust auth and
its unix socket in the temp dir. Use it when a test must stop or restart the database::

    @pytest.fixture(scope="session")
    def pg() -> Iterator[PrivatePostgres]:
        with PrivatePostgres() as server:
            yield server

    def test_reconnect(pg):
        url = pg.create_database("app")
        pg.stop(); pg.start()          # same port and data dir: a restart

PostgreSQL refuses to run as root. When the tests run as root, the temp dir is chowned to the
``postgres`` account and ``initdb``/``postgres`` run under it (``subprocess.Popen(user=...)``,
the same as ``runuser -u postgres --`` but without an extra process in between, so signals
reach the postmaster).

:func:`fresh_database_on_machine_pg` creates a uniquely named database on the machine's shared
server (127.0.0.1:5432, trust auth) for tests that only need an empty database, and
:func:`drop_database` removes it again.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from tests.support._proc import (
    HOST,
    ManagedServer,
    ServerStartError,
    free_port,
    read_log_tail,
    terminate_process,
)

__all__ = [
    "MACHINE_PG_HOST",
    "MACHINE_PG_PORT",
    "PrivatePostgres",
    "drop_database",
    "find_pg_bindir",
    "fresh_database_on_machine_pg",
]

MACHINE_PG_HOST = "127.0.0.1"
MACHINE_PG_PORT = 5432

#: Settings for a throwaway test cluster: durability off (fast commits), local TCP only.
_TEST_SETTINGS = {
    "listen_addresses": HOST,
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


def find_pg_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``postgres``."""
    candidates = [
        Path(p)
        for p in glob.glob("/usr/lib/postgresql/*/bin")
        if (Path(p) / "initdb").exists() and (Path(p) / "postgres").exists()
    ]

    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", p.parent.name)) or (0,)

    if not candidates:
        raise FileNotFoundError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    return max(candidates, key=version)


def _connect_admin(url: str, timeout: float = 5.0) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout)))


def _replace_dbname(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


class PrivatePostgres(ManagedServer):
    """A private PostgreSQL cluster on a spare port.

    Parameters
    ----------
    port
        TCP port (default: a free one, chosen at the first start and kept for restarts).
    bindir
        Directory with ``initdb`` and ``postgres`` (default: :func:`find_pg_bindir`).
    os_user
        Account that runs the server when we are root (default ``postgres``); ignored otherwise.
    settings
        Extra ``-c name=value`` server settings.
    startup_timeout, stop_timeout, base_dir
        As for every server here; ``base_dir`` must be traversable by ``os_user``.

    Attributes
    ----------
    url
        ``postgresql://postgres@127.0.0.1:PORT/postgres`` (superuser ``postgres``, trust auth).
    port, host, user, socket_dir, pgdata, data_dir, log_path, last_start_seconds.
    """

    name = "postgres"
    log_name = "postgres.log"

    def __init__(
        self,
        *,
        port: int | None = None,
        bindir: str | os.PathLike[str] | None = None,
        os_user: str = "postgres",
        settings: dict[str, str] | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(startup_timeout=startup_timeout, stop_timeout=stop_timeout, base_dir=base_dir)
        self.bindir = Path(bindir) if bindir else find_pg_bindir()
        self.host = HOST
        self.user = "postgres"  # the database superuser created by initdb -U
        self._port = port
        self.settings = {**_TEST_SETTINGS, **(settings or {})}
        self._run_as: pwd.struct_passwd | None = pwd.getpwnam(os_user) if os.geteuid() == 0 else None

    # -- addresses ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("PrivatePostgres was never started")
        return self._port

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        """URL of database ``dbname`` on this server."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    @property
    def pgdata(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "pgdata"

    @property
    def socket_dir(self) -> Path:
        assert self.data_dir is not None
        return self.data_dir / "sock"

    def create_database(self, name: str) -> str:
        """Create database ``name`` (owner ``postgres``); return its URL."""
        with _connect_admin(self.url) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_for(name)

    # -- ManagedServer hooks -------------------------------------------------------------------
    def _popen_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {"cwd": self.data_dir, "stdin": subprocess.DEVNULL}
        if self._run_as is not None:
            kw.update(
                user=self._run_as.pw_uid,
                group=self._run_as.pw_gid,
                extra_groups=[],
                env=dict(
                    os.environ,
                    HOME=self._run_as.pw_dir,
                    USER=self._run_as.pw_name,
                    LOGNAME=self._run_as.pw_name,
                ),
            )
        return kw

    def _prepare(self) -> None:
        assert self.data_dir is not None
        if self._port is None:
            self._port = free_port()
        self.socket_dir.mkdir()
        if self._run_as is not None:
            for p in (self.data_dir, self.socket_dir):
                os.chown(p, self._run_as.pw_uid, self._run_as.pw_gid)
        cmd = [
            str(self.bindir / "initdb"),
            "-D",
            str(self.pgdata),
            "-U",
            self.user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        ]
        with open(self.log_path, "ab") as log:
            done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, **self._popen_kwargs())
        if done.returncode != 0:
            raise ServerStartError(
                f"initdb failed with code {done.returncode}\n"
                f"--- tail of {self.log_path} ---\n{read_log_tail(self.log_path)}"
            )

    def _launch(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        cmd = [
            str(self.bindir / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(self.port),
            "-k",
            str(self.socket_dir),
        ]
        for key, value in self.settings.items():
            cmd += ["-c", f"{key}={value}"]
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, **self._popen_kwargs())

    def _ready(self) -> bool:
        with psycopg.connect(self.url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True

    def _shutdown(self, proc: subprocess.Popen[bytes]) -> None:
        # SIGINT = "fast" shutdown: roll back open transactions, disconnect clients, checkpoint.
        terminate_process(proc, self.stop_timeout, sig=signal.SIGINT)

    def _kill(self, proc: subprocess.Popen[bytes]) -> None:
        # SIGQUIT = "immediate" shutdown: no checkpoint, crash recovery at the next start. A bare
        # SIGKILL of the postmaster could leave backends holding shared memory and block restart.
        terminate_process(proc, self.stop_timeout, sig=signal.SIGQUIT)


# -- the machine's shared PostgreSQL ----------------------------------------------------------------
_machine_user: str | None = None


def _machine_pg_user() -> str:
    """The role that can log in to the machine's server with trust auth (postgres, else root)."""
    global _machine_user
    if _machine_user is None:
        errors = []
        for user in ("postgres", "root"):
            url = f"postgresql://{user}@{MACHINE_PG_HOST}:{MACHINE_PG_PORT}/postgres"
            try:
                with _connect_admin(url, timeout=3) as conn:
                    conn.execute("SELECT 1")
            except psycopg.Error as exc:
                errors.append(f"{user}: {exc}")
                continue
            _machine_user = user
            break
        else:
            raise RuntimeError("machine PostgreSQL at 127.0.0.1:5432 not usable: " + "; ".join(errors))
    return _machine_user


def fresh_database_on_machine_pg(prefix: str = "spt_test") -> str:
    """Create a uniquely named, empty database on the machine's PostgreSQL; return its URL.

    The name is ``<prefix>_<12 hex digits>`` (lower case). Drop it with :func:`drop_database`.
    """
    clean = re.sub(r"[^a-z0-9_]", "_", prefix.lower())[:40] or "spt_test"
    name = f"{clean}_{uuid.uuid4().hex[:12]}"
    user = _machine_pg_user()
    admin = f"postgresql://{user}@{MACHINE_PG_HOST}:{MACHINE_PG_PORT}/postgres"
    with _connect_admin(admin) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _replace_dbname(admin, name)


@contextlib.contextmanager
def migrated_database(prefix: str) -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL with spt-api's schema, for the ``with`` block; its URL.
    Dropped when the block ends, whatever the way out."""
    from spt_api.db.migrate import migrate

    url = fresh_database_on_machine_pg(prefix)
    try:
        migrate(url)
        yield url
    finally:
        drop_database(url)


def drop_database(url: str) -> None:
    """Drop the database named in ``url`` (connected through the ``postgres`` database of the same
    server and user), disconnecting any sessions still open on it. A missing database is fine."""
    name = urlsplit(url).path.lstrip("/")
    if not name or name in ("postgres", "template0", "template1"):
        raise ValueError(f"refusing to drop database {name!r}")
    with _connect_admin(_replace_dbname(url, "postgres")) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
