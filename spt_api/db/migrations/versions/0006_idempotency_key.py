"""Idempotent submission: the ``Idempotency-Key`` a client sent with a job's creation, unique per owner,
and a hash of that request, so that a retry with other parameters is told apart from a true retry.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: Jobs with no owner (auth off) share one namespace of keys: NULL owners would never collide.
_WITH_KEY = "idempotency_key IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(255), nullable=True))
        batch.add_column(sa.Column("request_hash", sa.String(64), nullable=True))
    op.create_index(
        "ux_jobs_owner_idempotency_key",
        "jobs",
        [sa.text("coalesce(owner, '')"), "idempotency_key"],
        unique=True,
        postgresql_where=sa.text(_WITH_KEY),
        sqlite_where=sa.text(_WITH_KEY),
    )


def downgrade() -> None:
    op.drop_index("ux_jobs_owner_idempotency_key", "jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("request_hash")
        batch.drop_column("idempotency_key")
