"""Tables of the job store (SQLAlchemy Core); Alembic migrations create and evolve them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

__all__ = ["jobs", "metadata", "workers"]

metadata = sa.MetaData()

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("job_id", sa.String(32), primary_key=True),
    sa.Column("service", sa.String(64), nullable=False),
    sa.Column("owner", sa.String(255), nullable=True),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("execution_duration", sa.Integer, nullable=False),
    sa.Column("destruction_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("quote", sa.DateTime(timezone=True), nullable=True),
    # Ordered [name, value] pairs: parameters may repeat and their order matters.
    sa.Column("parameters", _json, nullable=False),
    sa.Column("results", _json, nullable=False),
    sa.Column("error_type", sa.String(16), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("error_detail", sa.Text, nullable=True),
    sa.Column("progress_done", sa.Integer, nullable=True),
    sa.Column("progress_total", sa.Integer, nullable=True),
    sa.Column("progress_message", sa.String(255), nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("worker_id", sa.String(128), nullable=True),
    sa.Column("heartbeat_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("queued_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("task_id", sa.String(64), nullable=True),
    # Fan-out: a child names its parent; a parent counts children not yet merged (0 once merged).
    sa.Column("parent_id", sa.String(32), nullable=True),
    sa.Column("pending_children", sa.Integer, nullable=True),
    sa.Column("child_index", sa.Integer, nullable=True),
    # Where the job's messages go, chosen by its service once, at creation (e.g. a GPU queue).
    sa.Column("queue", sa.String(64), nullable=True),
    # Created by a DALI sync request: answered in the same exchange, by the service's sync function.
    sa.Column("sync", sa.Boolean, nullable=False, server_default=sa.false()),
    # Idempotent submission: the client's Idempotency-Key (unique per owner) and a hash of its request.
    sa.Column("idempotency_key", sa.String(255), nullable=True),
    sa.Column("request_hash", sa.String(64), nullable=True),
    # The owner's login name shown as ownerId (the owner column, the token's subject, decides access).
    sa.Column("owner_name", sa.String(255), nullable=True),
    # The job list is always per service and owner, newest first, often by phase.
    sa.Index("ix_jobs_owner_list", "service", "owner", "creation_time"),
    sa.Index("ix_jobs_owner_phase", "service", "owner", "phase", "creation_time"),
    sa.Index("ix_jobs_destruction", "destruction_time"),
    # A renamed account's jobs are found by owner alone (JobStore.rename_owner).
    sa.Index("ix_jobs_owner", "owner"),
    sa.Index("ix_jobs_parent", "parent_id"),
    sa.Index("ix_jobs_service_list", "service", "creation_time"),
    sa.Index("ix_jobs_service_phase", "service", "phase", "creation_time"),
    # A retried creation finds its job by (owner, key); jobs with no owner share the '' namespace.
    sa.Index(
        "ux_jobs_owner_idempotency_key",
        sa.text("coalesce(owner, '')"),
        "idempotency_key",
        unique=True,
        postgresql_where=sa.text("idempotency_key IS NOT NULL"),
        sqlite_where=sa.text("idempotency_key IS NOT NULL"),
    ),
    # The reconciler scans active jobs only; partial on PostgreSQL keeps it tiny.
    sa.Index(
        "ix_jobs_active",
        "phase",
        "heartbeat_time",
        postgresql_where=sa.text("phase IN ('QUEUED', 'EXECUTING')"),
        sqlite_where=sa.text("phase IN ('QUEUED', 'EXECUTING')"),
    ),
)

#: The live worker registry: one row per worker process, beaten every heartbeat interval.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("worker_id", sa.String(255), primary_key=True),
    sa.Column("hostname", sa.String(255), nullable=False),
    sa.Column("queues", _json, nullable=False),
    sa.Column("capabilities", _json, nullable=False),
    sa.Column("extra", _json, nullable=False),
    sa.Column("started", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_workers_last_seen", "last_seen"),
)
