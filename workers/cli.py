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
    celery_app = build_worker_app(settings, services, [q.strip() for q in queues.split(",") if q.strip()])
    argv = ["worker", "-Q", queues, "-c", str(args.concurrency), "-P", "prefork", "--loglevel", settings.log_level]
    if args.name:
        argv += ["-n", args.name]
    celery_app.worker_main(argv)
    return 0


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
    worker.set_defaults(func=_worker)

    sub.add_parser("reconcile", help="requeue or fail jobs whose worker vanished (once)").set_defaults(
        func=_reconcile
    )
    sub.add_parser(
        "cleanup", help="destroy jobs past their destruction time and orphaned scratch directories (once)"
    ).set_defaults(func=_cleanup)
