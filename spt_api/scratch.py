"""Jobs' scratch directories (``data_dir/scratch/<job_id>``): where they are, and sweeping the orphans.

A job removes its own scratch directory when it ends, but not when its process is killed: an ABORT
or DELETE (the embedded pool and Celery's revoke both SIGKILL), a time limit, a crash. The embedded
supervisor removes a killed child's directory itself; everything else is found by
:func:`sweep_orphans` (at API start and in every cleanup pass): a directory whose job is not
EXECUTING, or no longer exists, belongs to no one.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from spt_api.config import Settings
from spt_api.db import JobStore
from spt_api.storage import safe_name
from spt_api.uws.phases import ExecutionPhase
from spt_api.uws.principal import Principal

__all__ = ["SCRATCH_GRACE", "job_scratch_dir", "remove_job_scratch", "scratch_root", "sweep_orphans"]

log = logging.getLogger(__name__)

#: The sweep acts for the system: it asks about every user's jobs.
SWEEPER = Principal.system_actor("scratch-sweeper")

#: Seconds a directory must have been left alone before the sweep may remove it. Between the sweep's
#: read of a job's phase and its removal, a worker may claim the job and make the directory: a young
#: directory is skipped so that the sweep cannot pull it from under a job that just started.
SCRATCH_GRACE = 60.0


def scratch_root(settings: Settings) -> Path:
    return (settings.data_dir / "scratch").resolve()


def job_scratch_dir(settings: Settings, job_id: str) -> Path:
    return scratch_root(settings) / safe_name(job_id)


def remove_job_scratch(settings: Settings, job_id: str) -> None:
    shutil.rmtree(job_scratch_dir(settings, job_id), ignore_errors=True)


def sweep_orphans(settings: Settings, store: JobStore, *, grace: float = SCRATCH_GRACE) -> list[str]:
    """Remove the scratch directories of jobs that are not EXECUTING (or are gone); their names."""
    root = scratch_root(settings)
    try:
        entries = [path for path in root.iterdir() if path.is_dir()]
    except FileNotFoundError:
        return []
    now = time.time()
    candidates = []
    for path in entries:
        try:
            if now - path.stat().st_mtime >= grace:
                candidates.append(path)
        except FileNotFoundError:
            continue  # its job removed it meanwhile
    if not candidates:
        return []
    # Job ids are already safe names: a directory's name is its job's id.
    phases = store.phases_of(SWEEPER, [path.name for path in candidates])
    removed = []
    for path in candidates:
        if phases.get(path.name) != ExecutionPhase.EXECUTING:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    if removed:
        log.info("removed %d orphaned scratch directories", len(removed))
    return removed
