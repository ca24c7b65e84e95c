"""Where the worker gets an input's bytes: the one place that knows how inputs arrive.

An input is an ``InputFile`` reference (an upload stored under ``inputs/``, or an object named by
the user), read whole through the job context: tables and COCO files are read into memory anyway.
"""

from __future__ import annotations

from spt_api.services import JobContext

__all__ = ["read_input"]


def read_input(ctx: JobContext, ref: str) -> bytes:
    """The bytes of the input ``ref`` (a UsageError when it is no longer stored)."""
    with ctx.open_input(ref) as handle:
        return handle.read()
