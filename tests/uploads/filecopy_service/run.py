"""The ``filecopy`` test service's work: the input through ``ctx.input_path`` and ``ctx.open_input``."""

from __future__ import annotations

import hashlib
import json

from spt_api.services import JobContext


def run(params: object, ctx: JobContext) -> None:
    ref = params.blob  # type: ignore[attr-defined]
    path = ctx.input_path(ref)
    with ctx.open_input(ref) as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    ctx.add_result("copy.bin", path, "application/octet-stream", result_id="copy")
    ctx.add_result("digest.json", json.dumps({"sha256": digest}).encode(), "application/json", result_id="digest")
