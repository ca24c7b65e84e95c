"""Fan-out: child jobs point at their parent; the parent counts what is left to merge.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("pending_children", sa.Integer, nullable=True))
        batch.add_column(sa.Column("child_index", sa.Integer, nullable=True))
    op.create_index("ix_jobs_parent", "jobs", ["parent_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_parent", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("child_index")
        batch.drop_column("pending_children")
        batch.drop_column("parent_id")
