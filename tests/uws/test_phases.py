"""Every phase x every action against the UWS 1.1 state diagram (§2.1.3)."""

from __future__ import annotations

import pytest

from spt_api.uws.phases import (
    Action,
    ExecutionPhase,
    InvalidTransitionError,
    allowed_sources,
    next_phase,
    target_of,
)

P = ExecutionPhase
EXPECTED: dict[tuple[ExecutionPhase, Action], ExecutionPhase] = {
    (P.PENDING, Action.RUN): P.QUEUED,
    (P.HELD, Action.RUN): P.QUEUED,
    (P.PENDING, Action.ABORT): P.ABORTED,
    (P.QUEUED, Action.ABORT): P.ABORTED,
    (P.EXECUTING, Action.ABORT): P.ABORTED,
    (P.HELD, Action.ABORT): P.ABORTED,
    (P.SUSPENDED, Action.ABORT): P.ABORTED,
    (P.QUEUED, Action.START): P.EXECUTING,
    (P.EXECUTING, Action.COMPLETE): P.COMPLETED,
    (P.PENDING, Action.FAIL): P.ERROR,
    (P.QUEUED, Action.FAIL): P.ERROR,
    (P.EXECUTING, Action.FAIL): P.ERROR,
    (P.HELD, Action.FAIL): P.ERROR,
    (P.SUSPENDED, Action.FAIL): P.ERROR,
    (P.PENDING, Action.HOLD): P.HELD,
    (P.EXECUTING, Action.HOLD): P.HELD,
    (P.EXECUTING, Action.SUSPEND): P.SUSPENDED,
    (P.SUSPENDED, Action.RESUME): P.EXECUTING,
    (P.QUEUED, Action.REQUEUE): P.QUEUED,
    (P.EXECUTING, Action.REQUEUE): P.QUEUED,
    (P.COMPLETED, Action.ARCHIVE): P.ARCHIVED,
    (P.ERROR, Action.ARCHIVE): P.ARCHIVED,
    (P.ABORTED, Action.ARCHIVE): P.ARCHIVED,
}


@pytest.mark.parametrize("phase", list(ExecutionPhase))
@pytest.mark.parametrize("action", list(Action))
def test_every_phase_and_action(phase: ExecutionPhase, action: Action) -> None:
    expected = EXPECTED.get((phase, action))
    if expected is None:
        with pytest.raises(InvalidTransitionError) as info:
            next_phase(phase, action)
        assert phase.value in str(info.value) and action.value in str(info.value)
        assert phase not in allowed_sources(action)
    else:
        assert next_phase(phase, action) is expected
        assert phase in allowed_sources(action)


def test_final_phases_only_archive() -> None:
    for phase in (P.COMPLETED, P.ERROR, P.ABORTED):
        allowed = [a for a in Action if phase in allowed_sources(a)]
        assert allowed == [Action.ARCHIVE]
    assert not [a for a in Action if P.ARCHIVED in allowed_sources(a)]


@pytest.mark.parametrize("action", list(Action))
def test_each_action_has_one_target(action: Action) -> None:
    """JobStore.transition relies on it: one conditional UPDATE serves every allowed source phase."""
    assert {next_phase(p, action) for p in allowed_sources(action)} == {target_of(action)}
