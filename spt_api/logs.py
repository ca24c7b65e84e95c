"""Logging set-up: plain lines for people, JSON lines (structlog) for log collectors."""

from __future__ import annotations

import logging
import sys

import structlog

from spt_api.queue.base import job_id_of_task

__all__ = ["configure_logging"]


def _job_id_of_celery_record(
    _logger: object, _method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """Celery's own task lines ("Task spt.run_job[<task id>] received/succeeded") get the job id too."""
    record = event.get("_record")
    if "job_id" in event or record is None or not record.name.startswith("celery"):
        return event
    data = record.args if isinstance(record.args, dict) else getattr(record, "data", None)
    task_id = data.get("id") if isinstance(data, dict) else None
    if isinstance(task_id, str) and (job_id := job_id_of_task(task_id)):
        event["job_id"] = job_id
    return event


def configure_logging(level: str = "INFO", json_lines: bool = False) -> None:
    pre_chain: list[structlog.types.Processor] = [
        # Context bound with structlog.contextvars (e.g. the job_id of the job a worker runs).
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _job_id_of_celery_record,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        foreign_pre_chain=pre_chain,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("tornado.access").setLevel(logging.WARNING)
    # Alembic narrates every plugin and revision at INFO; its news is worth a line only when it fails.
    logging.getLogger("alembic").setLevel(logging.WARNING)
