"""The ``wordcount`` service's execution (a worker imports this; heavy imports would go here)."""

from __future__ import annotations

import json
from collections import Counter

from spt_api.services import JobContext
from wordcount_service.params import WordCountParams

__all__ = ["run"]


def run(params: WordCountParams, ctx: JobContext) -> None:
    words = params.text.lower().split()
    ctx.progress(0, 1, "counting")
    counts = Counter(words).most_common(params.top)
    ctx.add_result("counts.json", json.dumps(dict(counts)).encode(), "application/json", result_id="counts")
    ctx.progress(1, 1, "done")
