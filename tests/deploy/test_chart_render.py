"""The chart renders for every environment, lints clean and yields strictly valid Kubernetes 1.30 objects."""

from __future__ import annotations

import re
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from spt_api.deploy import environment_values, render_environment
from tests.deploy._helpers import CHART, ENVS, ROOT, containers, documented_keys, pod_specs, undocumented_keys

# Kinds from CRDs have no schema in kubernetes-validate; they are checked by hand below.
CRD_KINDS = {"ServiceMonitor"}


@pytest.mark.parametrize("env", ENVS)
def test_every_object_is_valid_kubernetes_1_30(env: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    objs = rendered[env]
    assert len(objs) > 10
    for obj in objs:
        if obj["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(obj, "1.30", strict=True)


@pytest.mark.parametrize("env", ENVS)
def test_lint_is_clean(env: str) -> None:
    report = helm.lint(str(CHART), environment_values(env), strict=True, kube_version="v1.30.0")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_strict_validation_catches_a_typo(rendered: dict[str, list[dict[str, Any]]]) -> None:
    deployment = next(o for o in rendered["prod"] if o["kind"] == "Deployment")
    bad = yaml.safe_load(yaml.safe_dump(deployment))
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.30", strict=True)


@pytest.mark.parametrize("env", ENVS)
def test_names_are_unique_and_namespaced(env: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    from spt_api.deploy import ENVIRONMENTS

    keys = [(o["kind"], o["metadata"]["name"]) for o in rendered[env]]
    assert len(keys) == len(set(keys))
    assert {o["metadata"]["namespace"] for o in rendered[env]} == {ENVIRONMENTS[env].namespace}
    for _, name in keys:
        assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name


@pytest.mark.parametrize("env", ENVS)
def test_standard_labels(env: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    for obj in rendered[env]:
        labels = obj["metadata"].get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by"):
            assert key in labels, (obj["kind"], obj["metadata"]["name"], key)


@pytest.mark.parametrize("env", ENVS)
def test_pods_are_locked_down(env: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    for obj, spec in pod_specs(rendered[env]):
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        assert spec["automountServiceAccountToken"] is False, where
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        for c in containers(spec):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert "resources" in c and c["resources"].get("requests"), where
            if obj["metadata"]["labels"]["app.kubernetes.io/component"] != "webapp":
                # The Node dev server is the one exception (npm writes caches under /app).
                assert sc["readOnlyRootFilesystem"] is True, where


@pytest.mark.parametrize("env", ENVS)
def test_spt_api_pods_restart_on_config_change(env: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    for obj, spec in pod_specs(rendered[env]):
        image = spec["containers"][0]["image"]
        if "/spt-api" not in image or obj["kind"] == "Job":
            continue
        template = (
            obj["spec"]["template"] if obj["kind"] != "CronJob" else obj["spec"]["jobTemplate"]["spec"]["template"]
        )
        assert re.fullmatch(r"[0-9a-f]{64}", template["metadata"]["annotations"]["checksum/config"])


def test_checksum_changes_with_the_config() -> None:
    base = environment_values("prod")
    changed = {**base, "config": {**base["config"], "env": {**base["config"]["env"], "SPT_API_LOG_LEVEL": "DEBUG"}}}

    def checksum(values: dict[str, Any]) -> str:
        with helm.Chart.load(str(CHART)) as chart:
            out = chart.render(values, name="spt-api-server", namespace="spt-api")
        text = next(t for p, t in out.items() if p.endswith("api-deployment.yaml"))
        return str(next(yaml.safe_load_all(text))["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum(base) != checksum(changed)


# ---- values.schema.json -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"api": {"replicas": "two"}}, "want integer"),
        ({"replicaCount": 3}, "additional properties 'replicaCount' not allowed"),
        ({"api": {"replica": 3}}, "additional properties 'replica' not allowed"),
        ({"ingress": {"tls": "yes"}}, "want object"),
        ({"workers": [{"name": "x", "queues": ["q"], "gpus": 1}]}, "additional properties 'gpus' not allowed"),
        ({"config": {"env": {"DATABASE_URL": "x"}}}, "does not match pattern"),
        ({"migrations": {"mode": "sometimes"}}, "value must be one of"),
        ({"searchShards": {"antiAffinity": "medium"}}, "value must be one of"),
    ],
)
def test_schema_rejects_bad_values(values: dict[str, Any], message: str) -> None:
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmValuesError, match=re.escape(message)):
        chart.validate_schema(values)


@pytest.mark.parametrize("env", ENVS)
def test_schema_accepts_each_environment(env: str) -> None:
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(environment_values(env))


def test_required_settings_fail_the_render(tmp_path: Any) -> None:
    values = environment_values("prod")
    values["config"]["existingSecretKeys"] = ["SPT_API_REDIS_URL"]  # drops the database and broker URLs
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmError, match="SPT_API_DATABASE_URL is required"):
        chart.render(values, name="spt-api-server", namespace="spt-api")


def test_auth_needs_its_secrets() -> None:
    values = environment_values("prod")
    values["config"]["existingSecretKeys"].remove("SPT_API_SESSION_SECRET")
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(
        helm.HelmError, match="SPT_API_SESSION_SECRET is required with SPT_API_AUTH_ENABLED=true"
    ):
        chart.render(values, name="spt-api-server", namespace="spt-api")


def test_ingress_host_is_required() -> None:
    values = environment_values("prod")
    values["ingress"]["host"] = ""
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmError, match=r"ingress\.host is required"):
        chart.render(values, name="spt-api-server", namespace="spt-api")


# ---- values.yaml documentation ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["values.yaml", "values-dev1.yaml", "values-dev2.yaml"])
def test_every_values_key_has_a_helm_docs_comment(name: str) -> None:
    assert undocumented_keys((CHART / name).read_text(encoding="utf-8")) == []


def test_the_comment_check_finds_an_undocumented_key() -> None:
    text = "# -- ok\na: 1\nb:\n  # -- ok\n  c: 2\n  d: 3\n# -- whole block\ne:\n  f: 1\n"
    assert undocumented_keys(text) == ["6 d"]


def test_notes_render() -> None:
    with helm.Chart.load(str(CHART)) as chart:
        out = chart.render(environment_values("dev1"), name="spt-api-server-dev1", namespace="spt-dev1")
    notes = next(t for p, t in out.items() if p.endswith("NOTES.txt"))
    assert "https://dev1.spt.example.org/api" in notes
    assert "okteto up -f okteto/okteto-dev1.yml" in notes


def test_render_environment_rejects_unknown_env() -> None:
    with pytest.raises(ValueError, match="unknown environment"):
        render_environment("staging")


def test_docs_list_every_values_key() -> None:
    docs = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    keys = [path for path, _ in documented_keys((CHART / "values.yaml").read_text(encoding="utf-8"))]
    assert len(keys) > 80
    assert [k for k in keys if f"| `{k}` |" not in docs] == []
