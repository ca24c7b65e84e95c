"""Render one environment of the spt-api-server chart to Kubernetes objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "ENVIRONMENTS",
    "Environment",
    "deep_merge",
    "default_chart_dir",
    "environment_values",
    "render_environment",
    "render_text",
]

CHART_NAME = "spt-api-server"


@dataclass(frozen=True)
class Environment:
    """How one Argo CD Application releases the chart."""

    name: str
    application: str
    release: str
    namespace: str
    value_files: tuple[str, ...]


#: The three environments, as declared in ``argocd/application-*.yaml`` (a test keeps them equal).
#: Argo CD uses the Application name as the Helm release name.
ENVIRONMENTS: dict[str, Environment] = {
    "prod": Environment("prod", "spt-api-server", "spt-api-server", "spt-api", ("values.yaml",)),
    "dev1": Environment(
        "dev1", "spt-api-server-dev1", "spt-api-server-dev1", "spt-dev1", ("values.yaml", "values-dev1.yaml")
    ),
    "dev2": Environment(
        "dev2", "spt-api-server-dev2", "spt-api-server-dev2", "spt-dev2", ("values.yaml", "values-dev2.yaml")
    ),
}

# Order in which objects are listed: dependencies first, as ``helm install`` applies them.
_KIND_ORDER = [
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "StatefulSet",
    "Job",
    "CronJob",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
    "ServiceMonitor",
]


def default_chart_dir() -> Path:
    """Return ``charts/spt-api-server`` of the source checkout this package lives in.

    Raises
    ------
    FileNotFoundError
        When the package is installed without the repository (the chart is not packaged).
    """
    chart = Path(__file__).resolve().parents[2] / "charts" / CHART_NAME
    if not (chart / "Chart.yaml").is_file():
        raise FileNotFoundError(f"chart not found at {chart}; pass chart_dir (or --chart)")
    return chart


def get_environment(env: str) -> Environment:
    """Return the environment called ``env`` (prod, dev1, dev2); ValueError otherwise."""
    try:
        return ENVIRONMENTS[env]
    except KeyError:
        raise ValueError(f"unknown environment {env!r}; expected one of {', '.join(ENVIRONMENTS)}") from None


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``overlay`` into a copy of ``base`` as Helm merges several ``-f`` files.

    Maps merge key by key, anything else (lists included) is replaced. A ``null`` in the
    overlay is kept: Helm deletes such keys when it coalesces with the chart defaults.
    """
    merged: dict[str, Any] = dict(base)
    for key, value in overlay.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            merged[key] = deep_merge(old, value)
        else:
            merged[key] = value
    return merged


def environment_values(env: str, chart_dir: Path | None = None) -> dict[str, Any]:
    """Return the user-supplied values of ``env``: its value files deep-merged in order."""
    chart = chart_dir or default_chart_dir()
    values: dict[str, Any] = {}
    for name in get_environment(env).value_files:
        loaded = yaml.safe_load((chart / name).read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{chart / name} is not a YAML mapping")
        values = deep_merge(values, loaded)
    return values


def _sort_key(obj: Mapping[str, Any]) -> tuple[int, str, str]:
    kind = str(obj.get("kind", ""))
    rank = _KIND_ORDER.index(kind) if kind in _KIND_ORDER else len(_KIND_ORDER)
    return rank, kind, str(obj.get("metadata", {}).get("name", ""))


def render_environment(env: str, chart_dir: Path | None = None) -> list[dict[str, Any]]:
    """Render the chart for ``env`` as Argo CD would, and return its objects.

    The values are checked against ``values.schema.json`` first. Each object gets the
    Application's destination namespace (as ``kubectl apply -n`` would give it). Hooks
    (the migrations Job) are included; ``NOTES.txt`` is not.

    Raises
    ------
    ValueError
        For an unknown environment.
    helm_python.HelmError
        When the values break the schema or a template fails (``required``/``fail``).
    """
    import helm_python as helm  # deploy/test dependency only

    spec = get_environment(env)
    chart = chart_dir or default_chart_dir()
    values = environment_values(env, chart)
    with helm.Chart.load(str(chart)) as loaded:
        loaded.validate_schema(values)
        rendered = loaded.render(values, name=spec.release, namespace=spec.namespace, is_install=True)
    objects: list[dict[str, Any]] = []
    for path in sorted(rendered):
        if not path.endswith((".yaml", ".yml")):
            continue
        for doc in yaml.safe_load_all(rendered[path]):
            if isinstance(doc, dict) and doc:
                doc.setdefault("metadata", {}).setdefault("namespace", spec.namespace)
                objects.append(doc)
    return sorted(objects, key=_sort_key)


def render_text(env: str, chart_dir: Path | None = None) -> str:
    """Render ``env`` as one multi-document YAML text (``spt-api deploy render``)."""
    docs = render_environment(env, chart_dir)
    return yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True, default_flow_style=False)
