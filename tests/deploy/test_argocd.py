"""argocd/: valid against the vendored Argo CD CRD schemas (strict), and consistent with the chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from spt_api.deploy import ENVIRONMENTS
from tests.deploy._helpers import CHART, ROOT, crd_validator

ARGOCD = ROOT / "argocd"
REPO = "https://github.com/spt-3g/spt-api.git"


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((ARGOCD / name).read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def applications() -> dict[str, dict[str, Any]]:
    return {p.name: load(p.name) for p in sorted(ARGOCD.glob("application-*.yaml"))}


def test_files() -> None:
    assert sorted(p.name for p in ARGOCD.iterdir()) == [
        "application-dev1.yaml", "application-dev2.yaml", "application-prod.yaml", "appproject.yaml",
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["application-prod.yaml", "application-dev1.yaml", "application-dev2.yaml"])
def test_application_is_valid(name: str) -> None:
    validator = crd_validator("application-crd.yaml")
    assert [e.message for e in validator.iter_errors(load(name))] == []


def test_appproject_is_valid() -> None:
    validator = crd_validator("appproject-crd.yaml")
    assert [e.message for e in validator.iter_errors(load("appproject.yaml"))] == []


def test_strict_schema_catches_a_typo() -> None:
    app = load("application-prod.yaml")
    app["spec"]["sorce"] = app["spec"].pop("source")
    assert list(crd_validator("application-crd.yaml").iter_errors(app))


def test_project_allows_the_repo_and_the_three_namespaces() -> None:
    project = load("appproject.yaml")
    assert project["metadata"] == {**project["metadata"], "name": "spt3g", "namespace": "argo-cd"}
    assert project["spec"]["sourceRepos"] == [REPO]
    namespaces = {d["namespace"] for d in project["spec"]["destinations"]}
    assert namespaces == {e.namespace for e in ENVIRONMENTS.values()}


def test_applications_match_the_environments() -> None:
    apps = {a["metadata"]["name"]: a for a in applications().values()}
    assert set(apps) == {e.application for e in ENVIRONMENTS.values()}
    for env in ENVIRONMENTS.values():
        app = apps[env.application]
        assert app["metadata"]["namespace"] == "argo-cd"
        spec = app["spec"]
        assert spec["project"] == "spt3g"
        assert spec["source"]["repoURL"] == REPO
        assert spec["source"]["path"] == "charts/spt-api-server"
        assert (ROOT / spec["source"]["path"]) == CHART
        assert tuple(spec["source"]["helm"]["valueFiles"]) == env.value_files
        for values_file in env.value_files:
            assert (CHART / values_file).is_file()
        assert spec["source"]["helm"].get("releaseName", env.application) == env.release
        assert spec["destination"]["namespace"] == env.namespace


def test_sync_policy_automated_in_dev_manual_in_prod() -> None:
    apps = {a["metadata"]["name"]: a for a in applications().values()}
    assert "automated" not in apps["spt-api-server"]["spec"].get("syncPolicy", {})
    for name in ("spt-api-server-dev1", "spt-api-server-dev2"):
        policy = apps[name]["spec"]["syncPolicy"]
        assert policy["automated"]["selfHeal"] is True
        assert "RespectIgnoreDifferences=true" in policy["syncOptions"]


@pytest.mark.parametrize("name", ["application-dev1.yaml", "application-dev2.yaml"])
def test_dev_ignores_what_okteto_changes(name: str) -> None:
    (rule,) = load(name)["spec"]["ignoreDifferences"]
    assert (rule["group"], rule["kind"]) == ("apps", "Deployment")
    assert "/spec/replicas" in rule["jsonPointers"]
    for field in ("image", "command", "securityContext", "env"):
        assert f".spec.template.spec.containers[].{field}" in rule["jqPathExpressions"]


def test_single_repo_url_placeholder() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in Path(ARGOCD).glob("*.yaml"))
    assert text.count("https://github.com/") == text.count(REPO)
