"""Object-by-object diff of two rendered environments (an offline Argo CD App Diff)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from spt_api.deploy.render import get_environment, render_environment

__all__ = ["diff_environments", "diff_objects", "normalize"]

# Labels whose values come from the chart, not the release: never rewritten.
_CHART_LABELS = frozenset(
    {
        "helm.sh/chart",
        "app.kubernetes.io/name",
        "app.kubernetes.io/version",
        "app.kubernetes.io/managed-by",
        "app.kubernetes.io/part-of",
    }
)
# checksum/* annotations hash text that contains the release name: a config change shows in
# the ConfigMap/Secret itself, so the checksum is masked instead of reported on every pod.
_MASKED_PREFIX = "checksum/"
RELEASE = "RELEASE"
NAMESPACE = "NAMESPACE"


def _replace(text: str, release: str, namespace: str) -> str:
    # The release name as a whole token or a name prefix (RELEASE-api, RELEASE-api:8080),
    # never inside a longer name; namespaces only where they appear in cluster DNS names.
    text = re.sub(rf"(?<![A-Za-z0-9-]){re.escape(release)}(?![A-Za-z0-9])", RELEASE, text)
    return re.sub(rf"\.{re.escape(namespace)}\.svc\b", f".{NAMESPACE}.svc", text)


def normalize(obj: Any, release: str, namespace: str, key: str | None = None) -> Any:
    """Return ``obj`` with the release name and namespace replaced by placeholders.

    ``metadata.namespace`` is dropped, ``checksum/*`` annotations are masked, and the chart's
    own labels are left as they are.
    """
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            if k == "metadata" and isinstance(v, Mapping):
                v = {mk: mv for mk, mv in v.items() if mk != "namespace"}
            out[_replace(str(k), release, namespace)] = normalize(v, release, namespace, str(k))
        return out
    if isinstance(obj, list):
        return [normalize(v, release, namespace, key) for v in obj]
    if isinstance(obj, str) and key is not None and key.startswith(_MASKED_PREFIX):
        return "<checksum>"
    if isinstance(obj, str) and key not in _CHART_LABELS:
        return _replace(obj, release, namespace)
    return obj


def _index(objects: list[dict[str, Any]], release: str, namespace: str) -> dict[str, dict[str, Any]]:
    indexed: dict[str, dict[str, Any]] = {}
    for obj in objects:
        norm = normalize(obj, release, namespace)
        indexed[f"{norm.get('kind', '?')}/{norm.get('metadata', {}).get('name', '?')}"] = norm
    return indexed


def _dump(obj: Mapping[str, Any]) -> list[str]:
    return yaml.safe_dump(dict(obj), sort_keys=True, default_flow_style=False).splitlines(keepends=True)


def diff_objects(
    a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]], label_a: str = "a", label_b: str = "b"
) -> str:
    """Diff two ``{"Kind/name": object}`` maps; unchanged objects are left out."""
    chunks: list[str] = []
    for key in sorted(set(a) | set(b)):
        old, new = a.get(key), b.get(key)
        if old == new:
            continue
        if old is None:
            header = f"===== {key} (added in {label_b})\n"
        elif new is None:
            header = f"===== {key} (removed in {label_b}, only in {label_a})\n"
        else:
            header = f"===== {key}\n"
        lines = difflib.unified_diff(
            _dump(old) if old is not None else [],
            _dump(new) if new is not None else [],
            fromfile=f"{label_a}/{key}",
            tofile=f"{label_b}/{key}",
        )
        chunks.append(header + "".join(lines))
    return "\n".join(chunks)


def diff_environments(a: str, b: str, chart_dir: Path | None = None) -> str:
    """Render environments ``a`` and ``b`` and diff them object by object.

    Objects are matched on kind and name with the release prefix stripped
    (``Deployment/RELEASE-api``), and release names and namespaces are replaced by
    placeholders, so only real differences (replicas, hosts, resources...) remain.
    Returns an empty string when the environments render the same objects.
    """
    env_a, env_b = get_environment(a), get_environment(b)
    objs_a = _index(render_environment(a, chart_dir), env_a.release, env_a.namespace)
    objs_b = _index(render_environment(b, chart_dir), env_b.release, env_b.namespace)
    return diff_objects(objs_a, objs_b, a, b)
