"""Create the jobs table.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "jobs",
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
    )
    op.create_index("ix_jobs_owner_list", "jobs", ["service", "owner", "creation_time"])
    op.create_index("ix_jobs_owner_phase", "jobs", ["service", "owner", "phase", "creation_time"])
    op.create_index("ix_jobs_destruction", "jobs", ["destruction_time"])
    op.create_index(
        "ix_jobs_active",
        "jobs",
        ["phase", "heartbeat_time"],
        postgresql_where=sa.text("phase IN ('QUEUED', 'EXECUTING')"),
        sqlite_where=sa.text("phase IN ('QUEUED', 'EXECUTING')"),
    )


def downgrade() -> None:
    op.drop_table("jobs")
