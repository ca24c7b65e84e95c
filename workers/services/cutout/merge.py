"""Fan-out of the ``cutout`` service: the parent job's results from its children's.

A job of more than ``SPT_API_FAN_OUT_CHUNK`` positions is split by
:func:`workers.services.cutout.params.split` into children of that many
positions each, run by any worker with the ordinary ``run`` and always with
``bundle=none``: each child stores one result per file plus its own manifest.
When the last child has ended, :func:`merge` runs once for the parent:

* the manifests of the children that completed are concatenated in the order
  of the parent's positions; every position of a child that ended in ERROR or
  ABORTED gets one row with status ``error`` and the child's error message;
* ``bundle=none``: every child file is listed as a result of the parent
  (``adopt_result``: no copy); ``bundle=tar.gz|zip``: the child files are
  fetched one at a time into ONE archive, with the merged manifest, exactly as a
  single job builds it;
* the merged manifest is stored as ``manifest`` (CSV) and ``manifest-json``.

The parent therefore has the same results, in the same format, as the same job
run in one piece. When nothing at all could be cut, ``merge`` raises the
:class:`UsageError` a single job raises, naming why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from spt_api.services import ChildOutcome, MergeContext
from spt_api.services.errors import UsageError
from spt_api.uws.models import JobResult
from workers.services.cutout.bundle import (
    MANIFEST_COLUMNS,
    SUCCESS,
    ManifestRow,
    Output,
    summarize,
)
from workers.services.cutout.params import CutoutParams
from workers.services.cutout.target import Target

__all__ = ["MANIFEST_RESULT_IDS", "merge"]

_COLUMNS = frozenset(MANIFEST_COLUMNS)

#: Result ids of a job's own manifest (a child's are merged, not adopted).
MANIFEST_RESULT_IDS = frozenset({"manifest", "manifest-json"})
#: Files between progress reports while bundling (and at most this long between them).
PROGRESS_EVERY = 10
PROGRESS_SECONDS = 0.5
#: Failed children named in the message of a job of which nothing could be cut.
SHOWN_FAILURES = 3
_NOTHING_CUT = "no cutout could be made: "


@dataclass
class _Part:
    """One child, read: its targets and manifest rows (or why it gave nothing)."""

    child: ChildOutcome
    targets: list[Target]
    rows: list[ManifestRow] = field(default_factory=list)
    files: dict[str, JobResult] = field(default_factory=dict)
    failure: str | None = None


def _child_params(child: ChildOutcome) -> CutoutParams:
    # The task code validates every child's parameters with the service's model: CutoutParams.
    assert isinstance(child.params, CutoutParams), type(child.params)
    return child.params


def _failure_rows(targets: Sequence[Target], message: str) -> list[ManifestRow]:
    return [
        ManifestRow(
            name=t.name,
            ra=t.ra,
            dec=t.dec,
            band=None,
            map="",
            file="",
            format="",
            status="error",
            message=message,
            pos=t.pos,
        )
        for t in targets
    ]


def _read_part(child: ChildOutcome, ctx: MergeContext) -> _Part:
    part = _Part(child, _child_params(child).positions())
    if child.phase != "COMPLETED":
        part.failure = child.error_message or f"part {child.job_id} of the job ended {child.phase}"
    else:
        results = {r.result_id: r for r in child.results}
        manifest = results.get("manifest-json")
        if manifest is None:
            part.failure = f"part {child.job_id} of the job completed without a manifest"
        else:
            try:
                document = json.loads(ctx.read_result(manifest))
                part.rows = [
                    ManifestRow(**{k: v for k, v in row.items() if k in _COLUMNS}) for row in document["rows"]
                ]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                part.failure = f"the manifest of part {child.job_id} of the job could not be read: {exc}"
        part.files = {rid: r for rid, r in results.items() if rid not in MANIFEST_RESULT_IDS}
    if part.failure is not None:
        part.rows = _failure_rows(part.targets, part.failure)
        part.files = {}
    return part


def _ordered(parts: list[_Part], params: CutoutParams) -> list[_Part]:
    """Parts in the order of the parent's positions (children may end in any order)."""
    order = {t.name: i for i, t in enumerate(params.positions())}
    return sorted(parts, key=lambda p: min((order.get(t.name, len(order)) for t in p.targets), default=len(order)))


def _nothing_cut(parts: Sequence[_Part], rows: Sequence[ManifestRow]) -> UsageError:
    failed = [p for p in parts if p.failure is not None]
    if len(failed) == len(parts):
        positions = sum(len(p.targets) for p in parts)
        shown = []
        for part in failed[:SHOWN_FAILURES]:
            reason = str(part.failure).removeprefix(_NOTHING_CUT)
            span = f"{part.targets[0].name!r}..{part.targets[-1].name!r}" if part.targets else part.child.job_id
            shown.append(f"{span}: {reason}")
        more = f"; {len(failed) - SHOWN_FAILURES} more parts failed" if len(failed) > SHOWN_FAILURES else ""
        what = "the job's only part" if len(parts) == 1 else f"all {len(parts)} parts of the job"
        return UsageError(
            f"{_NOTHING_CUT}{what} ({positions} positions) failed: {'; '.join(shown)}{more}", parameter="POS"
        )
    summary = summarize(rows)["positions_by_status"]
    counts = ", ".join(f"{count} {status}" for status, count in sorted(summary.items()))
    first = rows[0] if rows else None
    example = f" (first: {first.name!r} at ra={first.ra:g}, dec={first.dec:g}: {first.message})" if first else ""
    return UsageError(f"{_NOTHING_CUT}positions {counts}{example}", parameter="POS")


class _Progress:
    def __init__(self, ctx: MergeContext, total: int, verb: str) -> None:
        self.ctx, self.total, self.verb = ctx, total, verb
        self.last = time.monotonic()
        ctx.progress(0, total, f"0 of {total} files {verb}")

    def step(self, done: int) -> None:
        now = time.monotonic()
        if done == self.total or done % PROGRESS_EVERY == 0 or now - self.last >= PROGRESS_SECONDS:
            self.ctx.progress(done, self.total, f"{done} of {self.total} files {self.verb}")
            self.last = now


def merge(params: CutoutParams, children: list[ChildOutcome], ctx: MergeContext) -> None:
    """Finish a fanned-out cutout job from its children: merged manifest, and one bundle or adopted files.

    Raises
    ------
    UsageError
        No child could cut anything (the message says why, per child).
    """
    # run.py loads astropy: only where a merge actually runs.
    from workers.services.cutout.run import public_params

    parts = _ordered([_read_part(child, ctx) for child in children], params)
    rows = [row for part in parts for row in part.rows]
    if not any(row.status in SUCCESS for row in rows):
        raise _nothing_cut(parts, rows)

    files = [(part, rid, result) for part in parts for rid, result in part.files.items()]
    renamed: dict[tuple[str, str], str] = {}  # (child job id, child result id) -> file in the parent
    output = Output(params.bundle, ctx)
    bundle = output.bundle
    progress = _Progress(ctx, len(files), "bundled" if bundle is not None else "listed")
    try:
        for done, (part, rid, result) in enumerate(files, start=1):
            # An ABORT is seen between files: one file takes milliseconds.
            if ctx.is_aborted():
                output.discard()
                return
            if bundle is not None:
                local = ctx.workdir / "part-file"
                ctx.fetch_result(result, local)
                try:
                    renamed[part.child.job_id, rid] = bundle.add(output.unique(rid), local.read_bytes())
                finally:
                    local.unlink(missing_ok=True)
            else:
                renamed[part.child.job_id, rid] = ctx.adopt_result(result)
            progress.step(done)
    except BaseException:
        output.discard()
        raise

    merged = []
    for part in parts:
        for row in part.rows:
            if row.file:
                new = renamed.get((part.child.job_id, row.file))
                if new is None:
                    row = replace(
                        row,
                        file="",
                        status="error",
                        message=f"the file {row.file} of part {part.child.job_id} of the job was not stored",
                    )
                else:
                    row = replace(row, file=new)
            merged.append(row)

    output.finish(
        merged,
        parameters=public_params(params),
        parts=[{"job_id": p.child.job_id, "phase": p.child.phase, "positions": len(p.targets)} for p in parts],
    )
