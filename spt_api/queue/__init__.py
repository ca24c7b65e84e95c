"""Sending jobs to workers: Celery in production, a process pool in embedded mode."""

from spt_api.queue.base import Dispatcher

__all__ = ["Dispatcher"]
