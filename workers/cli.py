"""Worker-side commands of ``spt-api``: worker, reconcile, cleanup (a service adds its own: ``ServiceSpec.cli``)."""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from spt_api.config import Settings
from spt_api.logs import configure_logging

__all__ = ["register_cli"]

log = logging.getLogger(__name__)


def _worker(args: argparse.Namespace) -> int:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    if settings.is_embedded_queue:
        raise SystemExit("spt-api worker needs a Celery broker: set SPT_API_BROKER_URL=redis://… or amqp://…")
    if settings.events_problem:
        # As `spt-api serve` does: a worker whose events go nowhere would leave every WAIT to its re-read.
        log.error("%s", settings.events_problem)
        return 2
    from spt_api.services import ServiceRegistry, UnknownServiceError
    from workers.celery_app import build_worker_app

    try:
        services = ServiceRegistry.from_entry_points(settings.enabled_services)
    except UnknownServiceError as exc:
        log.error("%s", exc)
        return 2
    queues = args.queues or ",".join(services.queues())
    extra = None
    if args.shard:
        from workers.services.search.shards import registry_extra

        queues = _hold_shards(settings, args.shard, args.queues)
        extra = registry_extra
    celery_app = build_worker_app(
        settings, services, [q.strip() for q in queues.split(",") if q.strip()], extra=extra
    )
    argv = ["worker", "-Q", queues, "-c", str(args.concurrency), "-P", "prefork", "--loglevel", settings.log_level]
    if args.name:
        argv += ["-n", args.name]
    celery_app.worker_main(argv)
    return 0


def _hold_shards(settings: Settings, shards: list[str], extra_queues: str | None) -> str:
    """``--shard NAME:I``: load each shard now, before the pool forks (its processes share the pages),
    and consume only those shards' queues (``search-shard-I``), plus any ``--queues`` given."""
    from spt_api.storage import create_object_store
    from workers.services.search.layout import check_name, shard_queue
    from workers.services.search.shards import preload

    storage = create_object_store(settings)
    queues = [q for q in (extra_queues or "").split(",") if q]
    for spec in shards:
        name, _, number = spec.rpartition(":")
        if not name or not number.isdigit():
            raise SystemExit(f"--shard {spec!r}: expected NAME:I (an index name and a shard number)")
        check_name(name)
        loaded = preload(settings, storage, name, int(number))
        log.info("holding shard %s:%d of version %d (%d bytes)", name, loaded.shard, loaded.version, loaded.size)
        if shard_queue(int(number)) not in queues:
            queues.append(shard_queue(int(number)))
    return ",".join(queues)


def _backends() -> tuple[Settings, Any, Any, Any, Any]:
    from spt_api.db import create_job_store
    from spt_api.storage import create_object_store
    from workers.runtime import event_publisher

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    store = create_job_store(settings.effective_database_url)
    objects = create_object_store(settings)
    dispatcher: Any
    if settings.is_embedded_queue:
        dispatcher = _NoDispatch()
    else:
        from spt_api.queue.celery_dispatcher import CeleryDispatcher
        from spt_api.services import ServiceRegistry

        dispatcher = CeleryDispatcher(settings, ServiceRegistry.from_entry_points(settings.enabled_services).queues())
    return settings, store, objects, dispatcher, event_publisher(settings)


class _NoDispatch:
    """Embedded mode has no queue outside the API process: the API's own reconciler resends."""

    def send(self, job: Any) -> None:
        raise RuntimeError("embedded mode: the API process resends queued jobs itself")

    def abort(self, job: Any) -> None:
        return None


def _reconcile(args: argparse.Namespace) -> int:
    from spt_api.maintenance import reconcile

    settings, store, _objects, dispatcher, events = _backends()
    report = reconcile(settings, store, dispatcher, events)
    print(json.dumps(report.__dict__))
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    from spt_api.maintenance import cleanup_expired

    settings, store, objects, dispatcher, events = _backends()
    report = cleanup_expired(store, objects, dispatcher, events, settings=settings)
    print(json.dumps({"deleted": len(report.deleted), "swept": len(report.swept)}))
    return 0


def register_cli(sub: Any) -> None:
    worker = sub.add_parser("worker", help="run a Celery worker (wraps `celery worker`)")
    worker.add_argument("--queues", help="comma-separated queues; default: every service's queue")
    worker.add_argument("-c", "--concurrency", type=int, default=2, help="worker processes (as Celery's -c)")
    worker.add_argument("--name", help="Celery node name (e.g. cutout@%%h)")
    worker.add_argument(
        "--shard",
        action="append",
        metavar="NAME:I",
        help="hold shard I of search index NAME in memory and consume only its queue, search-shard-I (repeatable)",
    )
    worker.set_defaults(func=_worker)

    sub.add_parser("reconcile", help="requeue or fail jobs whose worker vanished (once)").set_defaults(
        func=_reconcile
    )
    sub.add_parser(
        "cleanup", help="destroy jobs past their destruction time and orphaned scratch directories (once)"
    ).set_defaults(func=_cleanup)
