"""spt-api cleanup and fan-out children: a child is destroyed with its parent, at the parent's time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from spt_api.db import create_job_store
from spt_api.maintenance import cleanup_expired
from spt_api.storage.local import LocalObjectStore
from spt_api.uws.models import utcnow
from tests.maintenance.test_reconcile_overruns import NoEvents, RecordingDispatcher
from tests.support.principals import ANONYMOUS, SYSTEM


def test_children_follow_their_parents_destruction_time(tmp_path: Path) -> None:
    store = create_job_store(f"sqlite:///{tmp_path}/jobs.sqlite")
    objects = LocalObjectStore(tmp_path / "results")
    dispatcher = RecordingDispatcher()
    soon = utcnow() + timedelta(minutes=5)
    parent = store.create(ANONYMOUS, service="cutout", parameters=[("POS", "CIRCLE 0 0 0.01")],
                          execution_duration=60, destruction_time=soon, queued=True)
    parent = store.claim(SYSTEM, parent.job_id, "worker-1")
    assert parent is not None
    children = store.create_children(SYSTEM, parent, [[("POS", "CIRCLE 0 0 0.01")], [("POS", "CIRCLE 1 1 0.01")]])
    for child in children:
        objects.put_bytes(f"cutout/{child.job_id}/stamp.fits", b"FITS")  # the merge adopts these as they are
    # The client extends the parent's lifetime; the children keep the time they were created with.
    later = soon + timedelta(days=7)
    store.set_destruction(SYSTEM, parent.job_id, later)

    report = cleanup_expired(store, objects, dispatcher, NoEvents(), now=soon + timedelta(minutes=1))
    assert report.deleted == []
    assert [c.job_id for c in store.children(SYSTEM, parent.job_id)] == [c.job_id for c in children]
    assert all(objects.exists(f"cutout/{c.job_id}/stamp.fits") for c in children)

    report = cleanup_expired(store, objects, dispatcher, NoEvents(), now=later + timedelta(minutes=1))
    assert report.deleted == [parent.job_id]
    assert store.get(SYSTEM, parent.job_id) is None
    assert store.children(SYSTEM, parent.job_id) == []
    assert not any(objects.exists(f"cutout/{c.job_id}/stamp.fits") for c in children)
    # It was running: it and its children were stopped before they were destroyed.
    assert set(dispatcher.aborted) == {parent.job_id, *(c.job_id for c in children)}
