"""``spt-api index``: the index commands (``ServiceSpec.cli`` of the index service).

``spt-api index compact [NAME ...]`` is what the chart's CronJob runs (no name: every index): each
index's pending log is folded into a new version, swapped in atomically. ``spt-api index list``
prints the indexes and their current versions.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from spt_api.config import Settings
from spt_api.logs import configure_logging

__all__ = ["register_cli"]


def _store() -> Any:
    from spt_api.storage import create_object_store

    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_object_store(settings)


def _compact(args: argparse.Namespace) -> int:
    from workers.services.search.compact import compact_all

    reports = compact_all(_store(), args.names or None)
    if not reports:
        print(json.dumps({"indexes": 0, "compacted": 0}))
    for report in reports:
        print(json.dumps(report))
    return 1 if any("error" in r for r in reports) else 0


def _list(args: argparse.Namespace) -> int:
    from workers.services.search import layout

    storage = _store()
    for name in layout.index_names(storage):
        manifest = layout.read_manifest(storage, name)
        pending = len(layout.pending_log(storage, name, manifest))
        summary = {k: manifest[k] for k in ("name", "version", "count", "dimension", "factory", "shards", "metric")}
        print(json.dumps({**summary, "recall_at_10": manifest.get("recall_at_10"), "pending_log": pending}))
    return 0


def register_cli(sub: Any) -> None:
    index = sub.add_parser("index", help="vector indexes of the search service")
    index_sub = index.add_subparsers(dest="index_command", required=True)
    compact = index_sub.add_parser(
        "compact", help="fold each index's event log into a new version and swap it in (the nightly CronJob)"
    )
    compact.add_argument("names", nargs="*", metavar="NAME", help="indexes to compact; default: every index")
    compact.set_defaults(func=_compact)
    index_sub.add_parser("list", help="the indexes, their current versions and pending log lengths").set_defaults(
        func=_list
    )
