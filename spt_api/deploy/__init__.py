"""Offline rendering and diffing of the Kubernetes environments (prod, dev1, dev2).

The Helm chart in ``charts/spt-api-server`` is rendered with the real Helm engine
(helm-python-sdk, imported lazily: it is a deploy/test dependency, not a server one) the
way the Argo CD Applications in ``argocd/`` release it, so that ``spt-api deploy diff``
shows what Argo CD's App Diff would show, without a cluster.
"""

from __future__ import annotations

from spt_api.deploy.cli import register_cli
from spt_api.deploy.diff import diff_environments, diff_objects
from spt_api.deploy.render import (
    ENVIRONMENTS,
    Environment,
    deep_merge,
    default_chart_dir,
    environment_values,
    render_environment,
    render_text,
)

__all__ = [
    "ENVIRONMENTS",
    "Environment",
    "deep_merge",
    "default_chart_dir",
    "diff_environments",
    "diff_objects",
    "environment_values",
    "register_cli",
    "render_environment",
    "render_text",
]
