"""``JobStore``: every read and phase change of a job, each change one conditional UPDATE.

The store is synchronous (workers call it directly); the API server calls it
through a thread pool so the event loop never blocks.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Required, TypedDict, Unpack

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from spt_api.db.hot_path import PgHotPath
from spt_api.db.liveness import ping_idle_connections, retry_once_on_disconnect
from spt_api.db.loop_insert import LoopInsert
from spt_api.db.migrate import migrate, sqlalchemy_url
from spt_api.db.schema import jobs, workers
from spt_api.db.write_now import SqliteWriteNow
from spt_api.uws.errors import NotFoundError, PermissionDeniedError
from spt_api.uws.models import ErrorSummary, ErrorType, Job, JobRef, JobResult, Progress, utcnow
from spt_api.uws.phases import ACTIVE_PHASES, Action, ExecutionPhase, allowed_sources, target_of
from spt_api.uws.principal import Principal
from spt_api.uws.task_ids import new_task_id
from spt_api.uws.workers import WorkerInfo

__all__ = ["DuplicateIdempotencyKeyError", "JobStore", "JobUpdateError", "create_job_store", "new_job_id"]


class JobUpdateError(PermissionDeniedError):
    """A change the job's current phase does not allow (UWS §2.2: 403)."""


class DuplicateIdempotencyKeyError(Exception):
    """The owner already created a job with this ``Idempotency-Key`` (a concurrent retry won the race)."""


def _not_pending(what: str, job: Job) -> JobUpdateError:
    return JobUpdateError(f"{what} can only be changed while the job is PENDING (it is {job.phase.value})")


def new_job_id() -> str:
    # 80 random bits, URL-safe and lower-case: a legal path segment that cannot be guessed.
    return secrets.token_hex(10)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _row_to_job(row: RowMapping | dict[str, Any]) -> Job:
    error = None
    if row["error_message"] is not None:
        error = ErrorSummary(ErrorType(row["error_type"] or "fatal"), row["error_message"], row["error_detail"])
    progress = None
    if row["progress_total"] is not None:
        progress = Progress(row["progress_done"] or 0, row["progress_total"], row["progress_message"] or "")
    creation = _aware(row["creation_time"])
    assert creation is not None
    return Job(
        job_id=row["job_id"],
        service=row["service"],
        owner=row["owner"],
        owner_name=row["owner_name"],
        phase=ExecutionPhase(row["phase"]),
        creation_time=creation,
        execution_duration=row["execution_duration"],
        destruction_time=_aware(row["destruction_time"]),
        parameters=tuple((str(k), str(v)) for k, v in row["parameters"]),
        run_id=row["run_id"],
        start_time=_aware(row["start_time"]),
        end_time=_aware(row["end_time"]),
        quote=_aware(row["quote"]),
        results=tuple(JobResult.from_record(r) for r in row["results"]),
        error=error,
        progress=progress,
        attempts=row["attempts"],
        worker_id=row["worker_id"],
        heartbeat_time=_aware(row["heartbeat_time"]),
        task_id=row["task_id"],
        parent_id=row["parent_id"],
        pending_children=row["pending_children"],
        queue=row["queue"] or row["service"],
        sync=bool(row["sync"]),
    )


def _error_values(error: ErrorSummary | None) -> dict[str, Any]:
    if error is None:
        return {}
    return {
        "error_type": error.error_type.value,
        "error_message": error.message,
        "error_detail": error.detail,
    }


class NewJob(TypedDict, total=False):
    """What :meth:`JobStore.create` takes besides the principal (see there)."""

    service: Required[str]
    parameters: Required[Iterable[tuple[str, str]]]
    execution_duration: Required[int]
    destruction_time: Required[datetime | None]
    run_id: str | None
    job_id: str | None
    creation_time: datetime | None
    queued: bool
    task_id: str | None
    queue: str | None
    idempotency_key: str | None
    request_hash: str | None
    sync: bool


def _new_job(principal: Principal, **fields: Unpack[NewJob]) -> dict[str, Any]:
    """The row of a new job (see :meth:`JobStore.create`)."""
    now = fields.get("creation_time") or utcnow()
    queued = fields.get("queued", False)
    service = fields["service"]
    return {
        "job_id": fields.get("job_id") or new_job_id(),
        "service": service,
        "owner": principal.owner,
        "owner_name": principal.owner_name,
        "phase": (ExecutionPhase.QUEUED if queued else ExecutionPhase.PENDING).value,
        "queue": fields.get("queue") or service,
        "sync": fields.get("sync", False),
        "run_id": fields.get("run_id"),
        "creation_time": now,
        "execution_duration": fields["execution_duration"],
        "destruction_time": fields["destruction_time"],
        "parameters": [list(p) for p in fields["parameters"]],
        "results": [],
        "attempts": 0,
        "queued_time": now if queued else None,
        "task_id": fields.get("task_id"),
        "idempotency_key": fields.get("idempotency_key"),
        "request_hash": fields.get("request_hash"),
    }


# The statements of a job's every step, built once: SQLAlchemy then skips building the statement
# and its cache key on each call, half the cost of a one-row read.
_GET = sa.select(jobs).where(jobs.c.job_id == sa.bindparam("b_job_id"))
_PING = sa.select(jobs.c.job_id).limit(1)
_PHASE = sa.select(jobs.c.phase).where(jobs.c.job_id == sa.bindparam("b_job_id"))
_INSERT = jobs.insert().returning(*jobs.c)
_CLAIM = (
    jobs.update()
    .where(jobs.c.job_id == sa.bindparam("b_job_id"), jobs.c.phase == ExecutionPhase.QUEUED.value)
    .values(
        phase=ExecutionPhase.EXECUTING.value,
        start_time=sa.bindparam("b_now"),
        heartbeat_time=sa.bindparam("b_now"),
        worker_id=sa.bindparam("b_worker_id"),
        attempts=jobs.c.attempts + 1,
    )
    .returning(*jobs.c)
)
_COMPLETE = (
    jobs.update()
    .where(jobs.c.job_id == sa.bindparam("b_job_id"), jobs.c.phase == ExecutionPhase.EXECUTING.value)
    .values(phase=ExecutionPhase.COMPLETED.value, end_time=sa.bindparam("b_now"), results=sa.bindparam("b_results"))
)
_COMPLETE_OWN = _COMPLETE.where(jobs.c.worker_id == sa.bindparam("b_worker_id"))
_HEARTBEAT = (
    jobs.update()
    .where(
        jobs.c.job_id == sa.bindparam("b_job_id"),
        jobs.c.worker_id == sa.bindparam("b_worker_id"),
        jobs.c.phase == ExecutionPhase.EXECUTING.value,
    )
    .values(heartbeat_time=sa.bindparam("b_now"))
)

_ACTIVE = [p.value for p in ACTIVE_PHASES]


def _children_running(parent_id: Any) -> Any:
    """EXISTS: a child of ``parent_id`` (a value or the outer row's column) is still active."""
    child = jobs.alias("child")
    return sa.exists().where(child.c.parent_id == parent_id, child.c.phase.in_(_ACTIVE))


def _scope(principal: Principal) -> builtins.list[Any]:
    """The WHERE clauses that keep ``principal`` to its own jobs: none for the system and admins."""
    if principal.sees_all:
        return []
    if principal.user_id is None:
        return [jobs.c.owner.is_(None)]
    return [jobs.c.owner == principal.user_id]


def _scoped(statement: Any, principal: Principal) -> Any:
    """A prebuilt statement, narrowed to ``principal``'s jobs (unchanged, so still cached, for the system)."""
    clauses = _scope(principal)
    return statement.where(*clauses) if clauses else statement


#: Registry rows silent this long are deleted when a worker registers (a pid's row outlives its process).
FORGET_WORKERS_AFTER = timedelta(days=1)


def _system_only(principal: Principal, what: str) -> None:
    if not principal.sees_all:
        raise PermissionDeniedError(f"{what} is for the system only")


class WorkerRegistry:
    """The live worker registry (table ``workers``): a mixin of :class:`JobStore`, in the same database."""

    engine: Engine

    def _upsert(self, values: dict[str, Any]) -> Any:
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        statement = insert(workers).values(**values)
        changed = {k: statement.excluded[k] for k in values if k != "worker_id"}
        return statement.on_conflict_do_update(index_elements=[workers.c.worker_id], set_=changed)

    @retry_once_on_disconnect
    def register_worker(self, principal: Principal, info: WorkerInfo) -> None:
        """Record (or refresh) the worker ``info``, seen now; forget workers silent for a day."""
        _system_only(principal, "registering a worker")
        now = utcnow()
        values = {
            "worker_id": info.worker_id,
            "hostname": info.hostname,
            "queues": list(info.queues),
            "capabilities": sorted(info.capabilities),
            "extra": dict(info.extra),
            "started": info.started or now,
            "last_seen": now,
        }
        with self.engine.begin() as conn:
            conn.execute(workers.delete().where(workers.c.last_seen < now - FORGET_WORKERS_AFTER))
            conn.execute(self._upsert(values))

    @retry_once_on_disconnect
    def beat_worker(
        self, principal: Principal, worker_id: str, extra: dict[str, Any] | None = None
    ) -> bool:
        """The worker is alive (and now publishes ``extra``, when given); False when it is not registered."""
        _system_only(principal, "a worker's heartbeat")
        values: dict[str, Any] = {"last_seen": utcnow()}
        if extra is not None:
            values["extra"] = dict(extra)
        with self.engine.connect() as conn:
            result = conn.execute(workers.update().where(workers.c.worker_id == worker_id).values(**values))
        return bool(result.rowcount)

    @retry_once_on_disconnect
    def remove_worker(self, principal: Principal, worker_id: str) -> None:
        _system_only(principal, "removing a worker")
        with self.engine.connect() as conn:
            conn.execute(workers.delete().where(workers.c.worker_id == worker_id))

    @retry_once_on_disconnect
    def live_workers(self, principal: Principal, max_age: float) -> builtins.list[WorkerInfo]:
        """The workers seen in the last ``max_age`` seconds, most recently seen first."""
        _system_only(principal, "the worker registry")
        since = utcnow() - timedelta(seconds=max_age)
        query = sa.select(workers).where(workers.c.last_seen >= since).order_by(workers.c.last_seen.desc())
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            WorkerInfo(
                worker_id=row["worker_id"],
                hostname=row["hostname"],
                queues=tuple(row["queues"]),
                capabilities=frozenset(row["capabilities"]),
                extra=dict(row["extra"] or {}),
                started=_aware(row["started"]),
                last_seen=_aware(row["last_seen"]),
            )
            for row in rows
        ]


#: The isolation level of the one multi-statement write, by dialect (the engine's default is autocommit).
_TRANSACTION_ISOLATION = {"postgresql": "READ COMMITTED", "sqlite": "SERIALIZABLE"}


class JobStore(WorkerRegistry):
    """Jobs in a SQL database (SQLite or PostgreSQL through SQLAlchemy Core), and the live worker registry."""

    def __init__(self, engine: Engine, *, hold_connection: bool = False) -> None:
        # Every method but one is a single statement, atomic on its own: autocommit (the engine's
        # own isolation level, so no per-checkout switch) saves the BEGIN and COMMIT round trips.
        # ``transactional`` serves the multi-statement write.
        self.engine = engine
        self.transactional = engine.execution_options(isolation_level=_TRANSACTION_ISOLATION[engine.dialect.name])
        #: The statements every job runs (create, claim, complete), on psycopg itself; SQLite keeps SQLAlchemy.
        #: ``hold_connection``: each thread keeps its connection for them between calls (a worker process).
        self._hot = PgHotPath(engine, hold=hold_connection) if engine.dialect.name == "postgresql" else None
        #: SQLite: each thread's connection that never waits for the write lock (see :meth:`create_now`).
        self._now = SqliteWriteNow(engine, jobs) if engine.dialect.name == "sqlite" else None
        #: PostgreSQL, in the API (not a worker, which has no event loop): the INSERT from the loop itself.
        self._loop_insert = (
            LoopInsert(engine, engine.pool.size())  # type: ignore[attr-defined]
            if engine.dialect.name == "postgresql" and not hold_connection
            else None
        )

    # -- reads ---------------------------------------------------------------------------------------

    @retry_once_on_disconnect
    def get(self, principal: Principal, job_id: str) -> Job | None:
        with self.engine.connect() as conn:
            row = conn.execute(_scoped(_GET, principal), {"b_job_id": job_id}).mappings().first()
        return _row_to_job(row) if row else None

    @retry_once_on_disconnect
    def phase(self, principal: Principal, job_id: str) -> ExecutionPhase | None:
        """The job's phase alone (a running job asks often; its parameters may be megabytes)."""
        with self.engine.connect() as conn:
            value = conn.execute(_scoped(_PHASE, principal), {"b_job_id": job_id}).scalar()
        return ExecutionPhase(value) if value is not None else None

    def require(self, principal: Principal, job_id: str, *, service: str | None = None) -> Job:
        """The job, or :class:`NotFoundError` (also when it belongs to another service, or is not the
        principal's to see: not 403, since telling a stranger that the id exists leaks information)."""
        job = self.get(principal, job_id)
        if job is None or (service is not None and job.service != service):
            raise NotFoundError(f"no job {job_id!r}")
        return job

    @retry_once_on_disconnect
    def list(
        self,
        principal: Principal,
        *,
        service: str | None = None,
        owner: str | None = None,
        phases: Sequence[ExecutionPhase] = (),
        after: datetime | None = None,
        last: int | None = None,
        limit: int = 1000,
    ) -> builtins.list[Job]:
        """Jobs filtered as UWS §2.2.2.1 says: ARCHIVED only when asked for, newest first."""
        query = self._list_query(sa.select(jobs), principal, service, owner, phases, after, last, limit)
        with self.engine.connect() as conn:
            return [_row_to_job(row) for row in conn.execute(query).mappings()]

    @retry_once_on_disconnect
    def list_refs(
        self,
        principal: Principal,
        *,
        service: str | None = None,
        owner: str | None = None,
        phases: Sequence[ExecutionPhase] = (),
        after: datetime | None = None,
        last: int | None = None,
        limit: int = 1000,
    ) -> builtins.list[JobRef]:
        """Like :meth:`list`, reading only what a job list shows (a long list costs a tenth)."""
        columns = [
            jobs.c.job_id, jobs.c.service, jobs.c.phase, jobs.c.run_id, jobs.c.owner, jobs.c.creation_time,
            jobs.c.owner_name,
        ]
        query = self._list_query(sa.select(*columns), principal, service, owner, phases, after, last, limit)
        with self.engine.connect() as conn:
            return [
                JobRef(job_id, svc, ExecutionPhase(phase), run_id, job_owner, _aware(created) or created, name)
                for job_id, svc, phase, run_id, job_owner, created, name in conn.execute(query)
            ]

    @staticmethod
    def _list_query(
        query: sa.Select[Any],
        principal: Principal,
        service: str | None,
        owner: str | None,
        phases: Sequence[ExecutionPhase],
        after: datetime | None,
        last: int | None,
        limit: int,
    ) -> sa.Select[Any]:
        # Fan-out children are the service's business, not the user's: they are not listed.
        query = query.where(jobs.c.parent_id.is_(None), *_scope(principal))
        if service is not None:
            query = query.where(jobs.c.service == service)
        if owner is not None:
            # An admin's OWNER filter: the owner's subject, or the name their jobs show.
            query = query.where(sa.or_(jobs.c.owner == owner, jobs.c.owner_name == owner))
        if phases:
            query = query.where(jobs.c.phase.in_([p.value for p in phases]))
        else:
            query = query.where(jobs.c.phase != ExecutionPhase.ARCHIVED.value)
        if after is not None:
            query = query.where(jobs.c.creation_time > after)
        count = min(last, limit) if last is not None else limit
        return query.order_by(jobs.c.creation_time.desc(), jobs.c.job_id.desc()).limit(count)

    @retry_once_on_disconnect
    def rename_owner(self, principal: Principal) -> int:
        """Show ``principal``'s current login name on all its jobs (a renamed account keeps its jobs, which
        are its subject's); returns how many jobs changed. Only the user's own jobs are touched."""
        if principal.user_id is None or principal.username is None:
            return 0
        statement = (
            jobs.update()
            .where(
                jobs.c.owner == principal.user_id,
                sa.or_(jobs.c.owner_name.is_(None), jobs.c.owner_name != principal.username),
            )
            .values(owner_name=principal.username)
        )
        with self.engine.begin() as conn:
            return int(conn.execute(statement).rowcount or 0)

    @retry_once_on_disconnect
    def ping(self) -> None:
        """One cheap read of the jobs table: the database answers and the schema is there."""
        with self.engine.connect() as conn:
            conn.execute(_PING).first()

    @retry_once_on_disconnect
    def count_by_phase(self, principal: Principal) -> dict[tuple[str, str], int]:
        query = (
            sa.select(jobs.c.service, jobs.c.phase, sa.func.count())
            .where(*_scope(principal))
            .group_by(jobs.c.service, jobs.c.phase)
        )
        with self.engine.connect() as conn:
            return {(service, phase): n for service, phase, n in conn.execute(query)}

    @retry_once_on_disconnect
    def worker_heartbeats(self, principal: Principal) -> dict[str, datetime]:
        """The latest heartbeat of each worker process that is running a job."""
        query = (
            sa.select(jobs.c.worker_id, sa.func.max(jobs.c.heartbeat_time))
            .where(jobs.c.phase == ExecutionPhase.EXECUTING.value, jobs.c.worker_id.is_not(None), *_scope(principal))
            .group_by(jobs.c.worker_id)
        )
        with self.engine.connect() as conn:
            beats = {str(worker): _aware(beat) for worker, beat in conn.execute(query)}
        return {worker: beat for worker, beat in beats.items() if beat is not None}

    @retry_once_on_disconnect
    def expired(self, principal: Principal, now: datetime, limit: int = 500) -> builtins.list[Job]:
        query = (
            sa.select(jobs)
            .where(
                jobs.c.destruction_time.is_not(None),
                jobs.c.destruction_time <= now,
                # Children are destroyed with their parent (maintenance.destroy), at its time.
                jobs.c.parent_id.is_(None),
                *_scope(principal),
            )
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_row_to_job(row) for row in conn.execute(query).mappings()]

    @retry_once_on_disconnect
    def stale(
        self, principal: Principal, now: datetime, heartbeat_timeout: timedelta, queued_timeout: timedelta
    ) -> builtins.list[Job]:
        """EXECUTING jobs whose worker is silent and QUEUED jobs waiting suspiciously long."""
        silent = sa.and_(
            jobs.c.phase == ExecutionPhase.EXECUTING.value,
            # A parent waiting on its children is alive while they are; the children are watched instead.
            sa.func.coalesce(jobs.c.pending_children, 0) == 0,
            sa.func.coalesce(jobs.c.heartbeat_time, jobs.c.start_time) < now - heartbeat_timeout,
        )
        waiting = sa.and_(
            jobs.c.phase == ExecutionPhase.QUEUED.value,
            jobs.c.queued_time < now - queued_timeout,
        )
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs).where(sa.or_(silent, waiting), *_scope(principal))).mappings()
            return [_row_to_job(row) for row in rows]

    @retry_once_on_disconnect
    def find_idempotent(self, principal: Principal, key: str) -> tuple[Job, str | None] | None:
        """The principal's job created with this ``Idempotency-Key``, and the hash of that request."""
        query = sa.select(jobs).where(
            sa.func.coalesce(jobs.c.owner, "") == (principal.owner or ""),
            jobs.c.idempotency_key == key,
            *_scope(principal),
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return (_row_to_job(row), row["request_hash"]) if row is not None else None

    @retry_once_on_disconnect
    def in_phase(
        self,
        principal: Principal,
        phase: ExecutionPhase,
        *,
        queued_after: datetime | None = None,
        queued_before: datetime | None = None,
        limit: int = 10_000,
    ) -> builtins.list[Job]:
        """Jobs in ``phase`` (optionally queued within a window), oldest queued first: an API starting
        up looks for the jobs its predecessor left without a worker or a message."""
        query = sa.select(jobs).where(jobs.c.phase == phase.value, *_scope(principal))
        if queued_after is not None:
            query = query.where(jobs.c.queued_time >= queued_after)
        if queued_before is not None:
            query = query.where(jobs.c.queued_time <= queued_before)
        query = query.order_by(jobs.c.queued_time, jobs.c.job_id).limit(limit)
        with self.engine.connect() as conn:
            return [_row_to_job(row) for row in conn.execute(query).mappings()]

    @retry_once_on_disconnect
    def queued_by_queue(self, principal: Principal) -> dict[str, int]:
        """How many jobs are QUEUED, by the queue their messages go to."""
        query = (
            sa.select(sa.func.coalesce(jobs.c.queue, jobs.c.service), sa.func.count())
            .where(jobs.c.phase == ExecutionPhase.QUEUED.value, *_scope(principal))
            .group_by(sa.func.coalesce(jobs.c.queue, jobs.c.service))
        )
        with self.engine.connect() as conn:
            return {str(queue): int(n) for queue, n in conn.execute(query)}

    @retry_once_on_disconnect
    def phases_of(self, principal: Principal, job_ids: Iterable[str]) -> dict[str, ExecutionPhase]:
        """The phase of each of ``job_ids`` that exists (the scratch sweep asks which dirs are orphans)."""
        wanted = builtins.list(job_ids)
        if not wanted:
            return {}
        query = sa.select(jobs.c.job_id, jobs.c.phase).where(jobs.c.job_id.in_(wanted), *_scope(principal))
        with self.engine.connect() as conn:
            return {job_id: ExecutionPhase(phase) for job_id, phase in conn.execute(query)}

    @retry_once_on_disconnect
    def executing_since(self, principal: Principal, before: datetime) -> builtins.list[Job]:
        """EXECUTING jobs started before ``before`` (the reconciler checks them for overruns)."""
        query = sa.select(jobs).where(
            jobs.c.phase == ExecutionPhase.EXECUTING.value,
            jobs.c.start_time < before,
            jobs.c.execution_duration > 0,
            *_scope(principal),
        )
        with self.engine.connect() as conn:
            return [_row_to_job(row) for row in conn.execute(query).mappings()]

    # -- writes --------------------------------------------------------------------------------------

    @retry_once_on_disconnect
    def create(self, principal: Principal, **fields: Unpack[NewJob]) -> Job:
        """Insert a PENDING job, or a QUEUED one when ``queued`` (PHASE=RUN at creation: one round trip).

        ``queue``: where its messages go, chosen once by its service (default: the service's name).
        ``idempotency_key``: unique per owner; :class:`DuplicateIdempotencyKeyError` when it is taken
        (see :meth:`find_idempotent`). ``request_hash``: what the key was sent with."""
        values = _new_job(principal, **fields)
        job_id = values["job_id"]
        idempotency_key = values["idempotency_key"]
        try:
            row: RowMapping | dict[str, Any]
            if self._hot is not None:
                row = self._hot.insert(values)
            else:
                with self.engine.begin() as conn:
                    row = conn.execute(_INSERT, values).mappings().one()
        except sa.exc.IntegrityError:
            # The retry of an INSERT whose first try committed before its connection dropped.
            existing = self.get(principal, job_id)
            if existing is not None:
                return existing
            if idempotency_key is not None and self.find_idempotent(principal, idempotency_key) is not None:
                raise DuplicateIdempotencyKeyError(idempotency_key) from None
            raise
        return _row_to_job(row)

    def create_now(self, principal: Principal, **fields: Unpack[NewJob]) -> Job | None:
        """:meth:`create` (the same arguments) without waiting, for the event loop: None, with nothing
        written, when the write would wait (another writer holds SQLite's lock), broke a constraint,
        or this store cannot write without waiting (PostgreSQL: a network round trip). The caller then
        calls :meth:`create` from a thread."""
        if self._now is None:
            return None
        row = self._now.insert(_new_job(principal, **fields))
        return _row_to_job(row) if row is not None else None

    @property
    def inserts_on_loop(self) -> bool:
        """Whether :meth:`create_on_loop` may write (PostgreSQL, outside a worker)."""
        return self._loop_insert is not None

    async def create_on_loop(self, principal: Principal, **fields: Unpack[NewJob]) -> Job | None:
        """:meth:`create` (the same arguments) from the event loop, without a thread: None, with nothing
        written (or a written row left for :meth:`create`'s retry to find), when it cannot be done from
        there; the caller then calls :meth:`create` from a thread."""
        if self._loop_insert is None:
            return None
        row = await self._loop_insert.insert(_new_job(principal, **fields))
        return _row_to_job(row) if row is not None else None

    def close_loop_connections(self) -> None:
        if self._loop_insert is not None:
            self._loop_insert.close()

    @retry_once_on_disconnect
    def _conditional_update(
        self,
        principal: Principal,
        job_id: str,
        phases: Iterable[ExecutionPhase],
        values: dict[str, Any],
        *conditions: Any,
    ) -> Job | None:
        """One UPDATE ... WHERE phase IN (...) [AND conditions] RETURNING *: the new job, or None when the
        phase (or a condition) did not match."""
        query = (
            jobs.update()
            .where(
                jobs.c.job_id == job_id,
                jobs.c.phase.in_([p.value for p in phases]),
                *_scope(principal),
                *conditions,
            )
            .values(**values)
            .returning(*jobs.c)
        )
        with self.engine.begin() as conn:
            row = conn.execute(query).mappings().first()
        return _row_to_job(row) if row is not None else None

    def transition(self, principal: Principal, job_id: str, action: Action, **values: Any) -> Job:
        """Apply ``action`` if the job's phase allows it, in one conditional UPDATE.

        Raises
        ------
        NotFoundError
            No such job.
        JobUpdateError
            The current phase does not allow the action.
        """
        # Every action leads to one phase from wherever it is allowed: one conditional UPDATE does it.
        sources = allowed_sources(action)
        updated = self._conditional_update(principal, job_id, sources, {"phase": target_of(action).value, **values})
        if updated is not None:
            return updated
        job = self.require(principal, job_id)
        raise JobUpdateError(f"cannot {action.value} a job in phase {job.phase.value}")

    def queue(self, principal: Principal, job_id: str, task_id: str | None = None) -> Job:
        return self.transition(principal, job_id, Action.RUN, queued_time=utcnow(), task_id=task_id)

    @retry_once_on_disconnect
    def claim(self, principal: Principal, job_id: str, worker_id: str) -> Job | None:
        """QUEUED → EXECUTING for one worker only; None when the job is not (or no longer) QUEUED."""
        if self._hot is not None and principal.sees_all:
            claimed = self._hot.claim(job_id, worker_id, utcnow())
            return _row_to_job(claimed) if claimed is not None else None
        with self.engine.begin() as conn:
            values = {"b_job_id": job_id, "b_now": utcnow(), "b_worker_id": worker_id}
            row = conn.execute(_scoped(_CLAIM, principal), values)
            found = row.mappings().first()
        return _row_to_job(found) if found is not None else None

    @retry_once_on_disconnect
    def heartbeat(self, principal: Principal, job_id: str, worker_id: str) -> bool:
        with self.engine.begin() as conn:
            values = {"b_job_id": job_id, "b_worker_id": worker_id, "b_now": utcnow()}
            beat = conn.execute(_scoped(_HEARTBEAT, principal), values)
            return beat.rowcount == 1

    @retry_once_on_disconnect
    def set_progress(
        self, principal: Principal, job_id: str, progress: Progress, *, forward_only: bool = False
    ) -> bool:
        """The job's progress; True when written. ``forward_only``: only over a smaller ``done`` (a fan-out
        parent's count of ended children: two children ending at once may write their counts out of order)."""
        forward = (sa.or_(jobs.c.progress_done.is_(None), jobs.c.progress_done < progress.done),)
        query = (
            jobs.update()
            .where(jobs.c.job_id == job_id, *_scope(principal), *(forward if forward_only else ()))
            .values(
                progress_done=progress.done,
                progress_total=progress.total,
                progress_message=progress.message[:255],
            )
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(query).rowcount)

    @retry_once_on_disconnect
    def complete(
        self,
        principal: Principal,
        job_id: str,
        results: Sequence[JobResult], worker_id: str | None = None, *, ended: datetime | None = None
    ) -> bool:
        """EXECUTING → COMPLETED with its results; False when the job was aborted or reassigned meanwhile."""
        stored = [r.record() for r in results]
        if self._hot is not None and principal.sees_all:
            return self._hot.complete(job_id, worker_id, ended or utcnow(), stored)
        values = {"b_job_id": job_id, "b_worker_id": worker_id, "b_now": ended or utcnow(), "b_results": stored}
        with self.engine.begin() as conn:
            statement = _scoped(_COMPLETE if worker_id is None else _COMPLETE_OWN, principal)
            return conn.execute(statement, values).rowcount == 1

    @retry_once_on_disconnect
    def fail(
        self,
        principal: Principal,
        job_id: str,
        error: ErrorSummary,
        *,
        worker_id: str | None = None,
        from_phases: Iterable[ExecutionPhase] | None = None,
        ended: datetime | None = None,
    ) -> bool:
        """Active → ERROR with an error summary; False when the job had already left those phases."""
        phases = list(from_phases) if from_phases is not None else list(allowed_sources(Action.FAIL))
        query = jobs.update().where(
            jobs.c.job_id == job_id, jobs.c.phase.in_([p.value for p in phases]), *_scope(principal)
        )
        if worker_id is not None:
            query = query.where(jobs.c.worker_id == worker_id)
        query = query.values(phase=ExecutionPhase.ERROR.value, end_time=ended or utcnow(), **_error_values(error))
        with self.engine.begin() as conn:
            return conn.execute(query).rowcount == 1

    def abort(self, principal: Principal, job_id: str, error: ErrorSummary | None = None) -> Job:
        return self.transition(principal, job_id, Action.ABORT, end_time=utcnow(), **_error_values(error))

    @retry_once_on_disconnect
    def requeue(
        self, principal: Principal, job_id: str, worker_id: str | None, task_id: str | None = None
    ) -> Job | None:
        """EXECUTING (of a vanished worker) or QUEUED (message lost) → QUEUED again."""
        query = jobs.update().where(
            *_scope(principal),
            jobs.c.job_id == job_id,
            jobs.c.phase.in_([ExecutionPhase.EXECUTING.value, ExecutionPhase.QUEUED.value]),
        )
        query = query.where(
            jobs.c.worker_id == worker_id if worker_id is not None else jobs.c.worker_id.is_(None)
        )
        query = query.values(
            phase=ExecutionPhase.QUEUED.value,
            queued_time=utcnow(),
            worker_id=None,
            start_time=None,
            heartbeat_time=None,
            task_id=task_id,
        ).returning(*jobs.c)
        with self.engine.begin() as conn:
            row = conn.execute(query).mappings().first()
        return _row_to_job(row) if row is not None else None

    # -- fan-out ---------------------------------------------------------------------------------------

    def create_children(
        self,
        principal: Principal,
        parent: Job,
        parameter_sets: Sequence[Sequence[tuple[str, str]]],
        queues: Sequence[str] | None = None,
    ) -> builtins.list[Job]:
        """Insert one QUEUED child per parameter set and make the parent wait for them, in one transaction.

        ``queues``: each child's queue (a search shard's piece goes to that shard's workers); default the parent's.
        """
        now = utcnow()
        rows = []
        for index, parameters in enumerate(parameter_sets):
            job_id = new_job_id()
            rows.append(
                {
                    "job_id": job_id,
                    "service": parent.service,
                    "queue": queues[index] if queues is not None else parent.queue,
                    "owner": parent.owner,
                    "owner_name": parent.owner_name,
                    "phase": ExecutionPhase.QUEUED.value,
                    "run_id": parent.run_id,
                    "creation_time": now,
                    "execution_duration": parent.execution_duration,
                    "destruction_time": parent.destruction_time,
                    "parameters": [list(p) for p in parameters],
                    "results": [],
                    "attempts": 0,
                    "queued_time": now,
                    "task_id": new_task_id(job_id),
                    "parent_id": parent.job_id,
                    "child_index": index,
                }
            )
        with self.transactional.begin() as conn:
            children = [
                _row_to_job(conn.execute(jobs.insert().values(**row).returning(*jobs.c)).mappings().one())
                for row in rows
            ]
            conn.execute(
                jobs.update()
                .where(jobs.c.job_id == parent.job_id)
                .values(pending_children=len(rows), heartbeat_time=now)
            )
        return children

    @retry_once_on_disconnect
    def count_children(self, principal: Principal, parent_id: str) -> tuple[int, int]:
        """(ended, total): how many of the job's children have left QUEUED and EXECUTING, of how many."""
        running = jobs.c.phase.in_(_ACTIVE)
        query = sa.select(sa.func.count(), sa.func.count().filter(sa.not_(running))).where(
            jobs.c.parent_id == parent_id, *_scope(principal)
        )
        with self.engine.connect() as conn:
            total, ended = conn.execute(query).one()
        return int(ended), int(total)

    @retry_once_on_disconnect
    def children(self, principal: Principal, parent_id: str) -> builtins.list[Job]:
        query = sa.select(jobs).where(jobs.c.parent_id == parent_id, *_scope(principal)).order_by(jobs.c.child_index)
        with self.engine.connect() as conn:
            return [_row_to_job(row) for row in conn.execute(query).mappings()]

    @retry_once_on_disconnect
    def claim_merge(self, principal: Principal, parent_id: str, worker_id: str) -> Job | None:
        """Once every child has ended, hand the merge to exactly one caller (None for the others)."""
        query = (
            jobs.update()
            .where(
                jobs.c.job_id == parent_id,
                jobs.c.phase == ExecutionPhase.EXECUTING.value,
                jobs.c.pending_children > 0,
                ~_children_running(parent_id),
                *_scope(principal),
            )
            .values(pending_children=0, heartbeat_time=utcnow(), worker_id=worker_id)
            .returning(*jobs.c)
        )
        with self.engine.begin() as conn:
            row = conn.execute(query).mappings().first()
        return _row_to_job(row) if row is not None else None

    @retry_once_on_disconnect
    def abort_children(self, principal: Principal, parent_id: str) -> builtins.list[Job]:
        """Abort the parent's active children; return them (their executions must be stopped)."""
        query = (
            jobs.update()
            .where(jobs.c.parent_id == parent_id, jobs.c.phase.in_(_ACTIVE), *_scope(principal))
            .values(phase=ExecutionPhase.ABORTED.value, end_time=utcnow())
            .returning(*jobs.c)
        )
        with self.engine.begin() as conn:
            return [_row_to_job(row) for row in conn.execute(query).mappings()]

    @retry_once_on_disconnect
    def unmerged_parents(self, principal: Principal) -> builtins.list[Job]:
        """EXECUTING parents whose children have all ended but whose merge never started (a worker died)."""
        query = sa.select(jobs).where(
            jobs.c.phase == ExecutionPhase.EXECUTING.value,
            jobs.c.pending_children > 0,
            ~_children_running(jobs.c.job_id),
            *_scope(principal),
        )
        with self.engine.connect() as conn:
            return [_row_to_job(row) for row in conn.execute(query).mappings()]

    def replace_parameters(
        self,
        principal: Principal,
        job_id: str,
        expected: Iterable[tuple[str, str]],
        parameters: Iterable[tuple[str, str]],
    ) -> Job | None:
        """The PENDING job's parameters set to ``parameters`` if they are still ``expected`` (compare and
        swap: two concurrent updates cannot both merge into the same old list); None when they changed.

        Raises
        ------
        JobUpdateError
            The job is no longer PENDING.
        """
        unchanged = jobs.c.parameters == sa.type_coerce([list(p) for p in expected], jobs.c.parameters.type)
        values = {"parameters": [list(p) for p in parameters]}
        updated = self._conditional_update(principal, job_id, [ExecutionPhase.PENDING], values, unchanged)
        if updated is None:
            job = self.require(principal, job_id)
            if job.phase != ExecutionPhase.PENDING:
                raise _not_pending("parameters", job)
        return updated

    def set_execution_duration(self, principal: Principal, job_id: str, seconds: int) -> Job:
        return self._update_pending(principal, job_id, {"execution_duration": seconds}, "executionDuration")

    def _update_pending(self, principal: Principal, job_id: str, values: dict[str, Any], what: str) -> Job:
        # The worker reads parameters and limits when the job is queued: later changes could not apply.
        updated = self._conditional_update(principal, job_id, [ExecutionPhase.PENDING], values)
        if updated is None:
            raise _not_pending(what, self.require(principal, job_id))
        return updated

    @retry_once_on_disconnect
    def set_destruction(self, principal: Principal, job_id: str, when: datetime) -> Job:
        query = (
            jobs.update()
            .where(jobs.c.job_id == job_id, *_scope(principal))
            .values(destruction_time=when)
            .returning(*jobs.c)
        )
        with self.engine.begin() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(f"no job {job_id!r}")
        return _row_to_job(row)

    @retry_once_on_disconnect
    def delete(self, principal: Principal, job_id: str) -> Job | None:
        """The deleted job, or None when there was none."""
        with self.engine.begin() as conn:
            query = jobs.delete().where(jobs.c.job_id == job_id, *_scope(principal)).returning(*jobs.c)
            row = conn.execute(query).mappings().first()
        return _row_to_job(row) if row is not None else None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while a worker process writes; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_job_store(
    url: str, *, run_migrations: bool = True, pool_size: int = 10, hold_connection: bool = False
) -> JobStore:
    """Open the job store at ``url`` (creating or upgrading its schema unless told not to).

    ``hold_connection``: for a process whose threads each run one job at a time (a worker): each thread
    keeps one pooled connection for a job's create, claim and complete rather than one per statement.
    """
    if run_migrations:
        migrate(url)
    sa_url = sqlalchemy_url(url)
    if sa_url.startswith("sqlite"):
        engine = sa.create_engine(
            sa_url, connect_args={"check_same_thread": False, "timeout": 10}, isolation_level="AUTOCOMMIT"
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = sa.create_engine(sa_url, pool_size=pool_size, max_overflow=pool_size, isolation_level="AUTOCOMMIT")
        ping_idle_connections(engine)
    return JobStore(engine, hold_connection=hold_connection)
