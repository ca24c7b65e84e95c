"""Indexes for job lists without an owner (auth off) and for phase filters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_service_list", "jobs", ["service", "creation_time"])
    op.create_index("ix_jobs_service_phase", "jobs", ["service", "phase", "creation_time"])


def downgrade() -> None:
    op.drop_index("ix_jobs_service_phase", "jobs")
    op.drop_index("ix_jobs_service_list", "jobs")
