"""UWS 1.1 execution phases and the transitions between them (UWS 1.1 §2.1.3).

Pure code: the table below is the REC's state diagram, and every phase change in
the job store is checked against it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ACTIVE_PHASES",
    "FINAL_PHASES",
    "Action",
    "ExecutionPhase",
    "InvalidTransitionError",
    "allowed_sources",
    "next_phase",
    "target_of",
]


class ExecutionPhase(StrEnum):
    PENDING = "PENDING"
    QUEUED = "QUEUED"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    ABORTED = "ABORTED"
    UNKNOWN = "UNKNOWN"
    HELD = "HELD"
    SUSPENDED = "SUSPENDED"
    ARCHIVED = "ARCHIVED"


class Action(StrEnum):
    """What makes a job change phase: a client request or a server event."""

    RUN = "RUN"  # client: PHASE=RUN
    ABORT = "ABORT"  # client: PHASE=ABORT (also the server on overrun)
    START = "START"  # server: a worker claimed the job
    COMPLETE = "COMPLETE"  # server: the job finished with results
    FAIL = "FAIL"  # server: the job failed
    HOLD = "HOLD"  # server: cannot be queued now
    SUSPEND = "SUSPEND"  # server: paused by the system
    RESUME = "RESUME"  # server: back to EXECUTING
    REQUEUE = "REQUEUE"  # server: the worker vanished, run it again
    ARCHIVE = "ARCHIVE"  # server: destruction time reached, metadata kept


P = ExecutionPhase

#: Phases in which a WAIT may block (§2.2.1.2).
ACTIVE_PHASES = frozenset({P.PENDING, P.QUEUED, P.EXECUTING})
#: Phases a job never leaves except to ARCHIVED.
FINAL_PHASES = frozenset({P.COMPLETED, P.ERROR, P.ABORTED, P.ARCHIVED})

_TRANSITIONS: dict[Action, dict[ExecutionPhase, ExecutionPhase]] = {
    Action.RUN: {P.PENDING: P.QUEUED, P.HELD: P.QUEUED},
    Action.ABORT: {
        P.PENDING: P.ABORTED,
        P.QUEUED: P.ABORTED,
        P.EXECUTING: P.ABORTED,
        P.HELD: P.ABORTED,
        P.SUSPENDED: P.ABORTED,
    },
    Action.START: {P.QUEUED: P.EXECUTING},
    Action.COMPLETE: {P.EXECUTING: P.COMPLETED},
    # "At any time before the COMPLETED phase a job may ... suffer an ERROR" (§2.1.3).
    Action.FAIL: {
        P.PENDING: P.ERROR,
        P.QUEUED: P.ERROR,
        P.EXECUTING: P.ERROR,
        P.HELD: P.ERROR,
        P.SUSPENDED: P.ERROR,
    },
    Action.HOLD: {P.PENDING: P.HELD, P.EXECUTING: P.HELD},
    Action.SUSPEND: {P.EXECUTING: P.SUSPENDED},
    Action.RESUME: {P.SUSPENDED: P.EXECUTING},
    # Not in the REC's diagram: the reconciler puts a job whose worker vanished back in the queue.
    Action.REQUEUE: {P.QUEUED: P.QUEUED, P.EXECUTING: P.QUEUED},
    Action.ARCHIVE: {P.COMPLETED: P.ARCHIVED, P.ERROR: P.ARCHIVED, P.ABORTED: P.ARCHIVED},
}


class InvalidTransitionError(Exception):
    """The action is not allowed in the job's current phase (HTTP 403 per UWS §2.2)."""

    def __init__(self, phase: ExecutionPhase, action: Action) -> None:
        super().__init__(f"cannot {action.value} a job in phase {phase.value}")
        self.phase = phase
        self.action = action


def next_phase(phase: ExecutionPhase, action: Action) -> ExecutionPhase:
    """Return the phase reached from ``phase`` by ``action``.

    Raises
    ------
    InvalidTransitionError
        If the REC allows no such transition.
    """
    target = _TRANSITIONS[action].get(phase)
    if target is None:
        raise InvalidTransitionError(phase, action)
    return target


def target_of(action: Action) -> ExecutionPhase:
    """The one phase ``action`` leads to, whichever phase it is allowed from."""
    (target,) = set(_TRANSITIONS[action].values())
    return target


def allowed_sources(action: Action) -> frozenset[ExecutionPhase]:
    """Phases from which ``action`` is allowed (for conditional updates)."""
    return frozenset(_TRANSITIONS[action])
