"""The ``spt-api`` command: serve, worker, migrate, cleanup, reconcile, maps, deploy."""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from spt_api.config import Settings
from spt_api.logs import configure_logging

__all__ = ["main"]

log = logging.getLogger("spt_api")


def _serve(args: argparse.Namespace) -> int:
    import tornado.netutil
    import tornado.process

    overrides = {k: v for k, v in {"host": args.host, "port": args.port, "workers": args.workers}.items() if v}
    settings = Settings(**overrides)
    configure_logging(settings.log_level, settings.log_json)
    workers = settings.workers
    if workers > 1 and not settings.effective_redis_url:
        log.warning(
            "WORKERS=%d needs SPT_API_REDIS_URL so a change seen by one process wakes a WAIT in another; "
            "serving with one process",
            workers,
        )
        workers = 1
    if workers > 1 and settings.is_embedded_queue:
        log.warning("the embedded queue runs in one process; serving with one process")
        workers = 1
    from spt_api.bootstrap import UnsupportedSettingError, check_supported

    try:
        check_supported(settings)
    except UnsupportedSettingError as exc:
        log.error("%s", exc)
        return 2
    from spt_api.db.migrate import migrate

    migrate(settings.effective_database_url)  # before forking, so processes do not race on the schema
    try:
        sockets = tornado.netutil.bind_sockets(settings.port, settings.host)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        log.error(
            "%s:%d is in use (another spt-api?): stop that server, or choose a port with --port or "
            "SPT_API_PORT (e.g. SPT_API_PORT=8081 make run)",
            settings.host, settings.port,
        )
        return 2
    if workers > 1:
        tornado.process.fork_processes(workers)
    if args.reload:
        import tornado.autoreload

        tornado.autoreload.start()
    from spt_api.bootstrap import serve_forever

    asyncio.run(serve_forever(settings, sockets))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from spt_api.db.migrate import migrate

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    migrate(args.database_url or settings.effective_database_url)
    print("database is at the latest schema")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spt-api", description="spt-api: an IVOA UWS 1.1 job service")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API server")
    serve.add_argument("--host", help="bind address (SPT_API_HOST)")
    serve.add_argument("--port", type=int, help="port (SPT_API_PORT or PORT)")
    serve.add_argument("--workers", type=int, help="API processes (SPT_API_WORKERS or WORKERS)")
    serve.add_argument("--reload", action="store_true", help="restart on code changes (development)")
    serve.set_defaults(func=_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("--database-url", help="override SPT_API_DATABASE_URL")
    migrate.set_defaults(func=_migrate)

    for register in _optional_commands():
        register(sub)
    return parser


def _optional_commands() -> list[Callable[[Any], None]]:
    # A broken import must fail loudly here: swallowing it made `spt-api worker` vanish from --help.
    from spt_api.bootstrap import worker_commands
    from spt_api.deploy import register_cli as register_deploy
    from spt_api.services import ServiceRegistry

    # Every installed service's own commands (e.g. cutout's `maps`), from its declaration.
    services = [spec.load_cli() for spec in ServiceRegistry.from_entry_points().values()]
    return [worker_commands(), register_deploy, *(register for register in services if register is not None)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
