"""Execution of the ``echo`` service."""

from __future__ import annotations

import time

from spt_api.services import ChildOutcome, JobContext, MergeContext
from spt_api.services.errors import UsageError
from workers.services.echo.params import EchoParams

__all__ = ["merge", "run"]


def run(params: EchoParams, ctx: JobContext) -> None:
    if params.delay:
        step = params.delay / params.steps
        for done in range(params.steps):
            ctx.progress(done, params.steps, "sleeping")
            time.sleep(step)
        ctx.progress(params.steps, params.steps, "done")
    if params.fail:
        raise UsageError(f"failed on request: {params.message}")
    ctx.add_result("message", params.message.encode(), "text/plain", result_id="message")
    if params.size:
        chunk = (params.message.encode() or b"x") * (params.size // max(1, len(params.message)) + 1)
        ctx.add_result("blob", chunk[: params.size], "application/octet-stream", result_id="blob")


def merge(params: EchoParams, children: list[ChildOutcome], ctx: MergeContext) -> None:
    """Join the children's messages in order; a failed child fails the whole job."""
    lines = []
    for child in children:
        if child.phase != "COMPLETED":
            raise UsageError(f"part {child.job_id} ended {child.phase}: {child.error_message or 'no message'}")
        message = next(r for r in child.results if r.result_id == "message")
        lines.append(ctx.read_result(message).decode())
    ctx.add_result("message", "\n".join(lines).encode(), "text/plain", result_id="message")
