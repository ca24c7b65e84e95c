"""The job store: SQLAlchemy Core over SQLite (embedded) or PostgreSQL (psycopg 3)."""

from spt_api.db.store import JobStore, JobUpdateError, create_job_store

__all__ = ["JobStore", "JobUpdateError", "create_job_store"]
