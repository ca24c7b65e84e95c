"""Parsing of UWS control parameters (WAIT, PHASE, LAST, AFTER, DESTRUCTION, ...). No I/O.

Each parser raises :class:`UsageError` naming the parameter and the bad value.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from spt_api.uws.errors import UsageError
from spt_api.uws.phases import ExecutionPhase

__all__ = [
    "first_value",
    "parse_datetime",
    "parse_duration",
    "parse_last",
    "parse_phase_action",
    "parse_phases",
    "parse_wait",
]

#: Largest 32-bit int: executionDuration is an xs:int in the schema.
MAX_INT = 2**31 - 1


def first_value(pairs: Iterable[tuple[str, str]], name: str) -> str | None:
    """The value of a case-insensitive parameter; a repeated single-valued one is an error (DALI §3.2)."""
    values = [v for k, v in pairs if k.lower() == name.lower()]
    if not values:
        return None
    if len(values) > 1:
        raise UsageError(f"parameter {name} accepts a single value", parameter=name)
    return values[0]


def parse_datetime(value: str, name: str) -> datetime:
    """ISO 8601; a time without zone is UTC (UWS §2.2.1 says all times are UTC)."""
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(f"{name} must be an ISO 8601 time such as 2030-01-31T12:00:00Z, not {value!r}",
                         parameter=name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is before year 1 in UTC
        raise UsageError(f"{name} {value!r} is outside the years 1 to 9999 in UTC", parameter=name) from None


def _int(value: str, name: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise UsageError(f"{name} must be an integer, not {value!r}", parameter=name) from None
    return number


def parse_wait(value: str, maximum: int) -> float:
    """WAIT=N seconds; -1 means the server's maximum (UWS §2.2.1.2)."""
    seconds = _int(value, "WAIT")
    if seconds < -1:
        raise UsageError(f"WAIT must be -1 or a number of seconds >= 0, not {value!r}", parameter="WAIT")
    return float(maximum if seconds == -1 else min(seconds, maximum))


def parse_last(value: str) -> int:
    number = _int(value, "LAST")
    if number <= 0:
        raise UsageError(f"LAST must be a positive integer, not {value!r}", parameter="LAST")
    return number


def parse_duration(value: str) -> int:
    seconds = _int(value, "EXECUTIONDURATION")
    if not 0 <= seconds <= MAX_INT:
        raise UsageError(
            f"EXECUTIONDURATION must be seconds between 0 (unlimited) and {MAX_INT}, not {value!r}",
            parameter="EXECUTIONDURATION",
        )
    return seconds


def parse_phases(values: Iterable[str]) -> list[ExecutionPhase]:
    phases = []
    for value in values:
        try:
            phases.append(ExecutionPhase(value.strip().upper()))
        except ValueError:
            known = ", ".join(p.value for p in ExecutionPhase)
            raise UsageError(f"PHASE must be one of {known}, not {value!r}", parameter="PHASE") from None
    return phases


def parse_phase_action(value: str | None) -> str:
    """The value of a POST to ``.../phase``: RUN or ABORT (UWS §2.2.3.5-6)."""
    if value is None:
        raise UsageError("missing parameter PHASE (RUN or ABORT)", parameter="PHASE")
    action = value.strip().upper()
    if action not in ("RUN", "ABORT"):
        raise UsageError(f"PHASE must be RUN or ABORT, not {value!r}", parameter="PHASE")
    return action
