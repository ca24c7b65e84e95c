"""What each environment deploys: the facts issue 6 asks for, asserted on the rendered objects."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest

from spt_api.config import Settings
from spt_api.deploy import environment_values
from spt_api.services import ServiceRegistry
from tests.deploy._helpers import CHART, ENVS, get, names, objects

Objs = list[dict[str, Any]]
DEV = ("dev1", "dev2")


def container(obj: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    spec = (
        obj["spec"]["template"]["spec"]
        if obj["kind"] != "CronJob"
        else obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    )
    return next(c for c in spec["containers"] if name is None or c["name"] == name)


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


# ---- API -----------------------------------------------------------------------------------------


def test_prod_api_hpa_2_to_8_at_70_percent_cpu(rendered: dict[str, Objs]) -> None:
    hpa = get(rendered["prod"], "HorizontalPodAutoscaler", "api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "spt-api-server-api",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    # The HPA owns the replica count: the Deployment leaves it unset.
    assert "replicas" not in get(rendered["prod"], "Deployment", "api")["spec"]


@pytest.mark.parametrize("env", DEV)
def test_dev_has_one_replica_no_hpa_no_api_pdb(env: str, rendered: dict[str, Objs]) -> None:
    objs = rendered[env]
    assert objects(objs, "HorizontalPodAutoscaler") == []
    assert get(objs, "Deployment", "api")["spec"]["replicas"] == 1
    assert all(d["spec"].get("replicas") == 1 for d in objects(objs, "Deployment") + objects(objs, "StatefulSet"))
    assert not any(p["metadata"]["name"].endswith("-api") for p in objects(objs, "PodDisruptionBudget"))


def test_prod_pdbs(rendered: dict[str, Objs]) -> None:
    api = get(rendered["prod"], "PodDisruptionBudget", "api")
    assert api["spec"]["minAvailable"] == 1
    assert (
        api["spec"]["selector"]["matchLabels"]
        == get(rendered["prod"], "Deployment", "api")["spec"]["selector"]["matchLabels"]
    )
    search = get(rendered["prod"], "PodDisruptionBudget", "search")
    assert search["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("env", ["prod", "dev1", "dev2"])
def test_api_probes_port_env_and_scratch_volumes(env: str, rendered: dict[str, Objs]) -> None:
    deploy = get(rendered[env], "Deployment", "api")
    api = container(deploy, "api")
    assert api["command"] == ["spt-api", "serve"]
    assert api["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    # Both on the /health handler: liveness only asks whether the process serves, readiness checks backends.
    assert api["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
    env_vars = env_of(api)
    assert env_vars["PORT"] == "8080"
    assert env_vars["WORKERS"] == ("2" if env == "prod" else "1")
    mounts = {m["mountPath"] for m in api["volumeMounts"]}
    assert {"/tmp", "/var/lib/spt-api"} <= mounts
    volumes = {v["name"]: v for v in deploy["spec"]["template"]["spec"]["volumes"]}
    assert volumes["tmp"] == {"name": "tmp", "emptyDir": {}} and "emptyDir" in volumes["data"]
    assert api["securityContext"]["readOnlyRootFilesystem"] is True
    annotations = deploy["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "8080"
    assert annotations["prometheus.io/path"] == "/metrics"
    service = get(rendered[env], "Service", "api")
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_service_monitor_is_optional() -> None:
    values = environment_values("prod")
    with helm.Chart.load(str(CHART)) as chart:
        off = chart.render(values, name="spt-api-server", namespace="spt-api")
        values["metrics"]["serviceMonitor"] = {"enabled": True, "interval": "15s", "labels": {"release": "prom"}}
        on = chart.render(values, name="spt-api-server", namespace="spt-api")
    assert "kind: ServiceMonitor" not in "".join(off.values())
    text = "".join(on.values())
    assert "kind: ServiceMonitor" in text and "interval: 15s" in text and "release: prom" in text


# ---- Ingress and devMode ----------------------------------------------------------------------------


def ingress_routes(obj: dict[str, Any]) -> dict[str, str]:
    (rule,) = obj["spec"]["rules"]
    return {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}


def test_prod_ingress_routes_every_path_to_the_api_over_tls(rendered: dict[str, Objs]) -> None:
    (ingress,) = objects(rendered["prod"], "Ingress")
    assert ingress_routes(ingress) == {p: "spt-api-server-api" for p in ("/api", "/account", "/app/cutout")}
    assert ingress["spec"]["rules"][0]["host"] == "spt.example.org"
    assert ingress["spec"]["tls"] == [{"hosts": ["spt.example.org"], "secretName": "spt-api-server-tls"}]


def test_devmode_trio_only_in_dev(rendered: dict[str, Objs]) -> None:
    for kind in ("Deployment", "Service", "Ingress"):
        assert not any(n.endswith("-webapp") for n in names(rendered["prod"], kind)), kind
    for env in DEV:
        release = f"spt-api-server-{env}"
        for kind in ("Deployment", "Service", "Ingress"):
            assert f"{release}-webapp" in names(rendered[env], kind), (env, kind)
        dev_server = container(get(rendered[env], "Deployment", "webapp"))
        assert dev_server["command"] == ["npm", "start"]


@pytest.mark.parametrize("env", DEV)
def test_dev_ingress_sends_the_web_app_to_the_dev_server_only(env: str, rendered: dict[str, Objs]) -> None:
    release = f"spt-api-server-{env}"
    main = next(i for i in objects(rendered[env], "Ingress") if i["metadata"]["name"] == release)
    webapp = get(rendered[env], "Ingress", "webapp")
    assert ingress_routes(main) == {"/api": f"{release}-api", "/account": f"{release}-api"}
    assert ingress_routes(webapp) == {"/app/cutout": f"{release}-webapp"}
    assert main["spec"]["rules"][0]["host"] == webapp["spec"]["rules"][0]["host"] == f"{env}.spt.example.org"
    port = webapp["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["name"]
    assert port in {p["name"] for p in get(rendered[env], "Service", "webapp")["spec"]["ports"]}


# ---- Workers --------------------------------------------------------------------------------------


def test_prod_workers_one_deployment_per_entry(rendered: dict[str, Objs]) -> None:
    workers = {
        d["metadata"]["name"]: d for d in objects(rendered["prod"], "Deployment") if "-worker-" in d["metadata"]["name"]
    }
    kinds = ("cutout", "search", "evaluation", "inference-cpu", "inference-gpu")
    assert set(workers) == {f"spt-api-server-worker-{n}" for n in kinds}
    assert container(workers["spt-api-server-worker-cutout"])["command"] == [
        "spt-api", "worker", "--queues", "cutout", "--concurrency", "4",
    ]  # fmt: skip
    hpas = names(rendered["prod"], "HorizontalPodAutoscaler")
    assert "spt-api-server-worker-cutout" in hpas and "spt-api-server-worker-inference-gpu" not in hpas


def worker_queues(objs: Objs) -> set[str]:
    """The queues the worker Deployments consume (each one's ``--queues``)."""
    queues: set[str] = set()
    for deploy in objects(objs, "Deployment"):
        if "-worker-" in deploy["metadata"]["name"]:
            command = container(deploy)["command"]
            queues |= set(command[command.index("--queues") + 1].split(","))
    return queues


def served_services(objs: Objs) -> ServiceRegistry:
    """The services the rendered API serves: SPT_API_SERVICES of its ConfigMap, read as the server reads it."""
    data = get(objs, "ConfigMap", "config")["data"]
    return ServiceRegistry.from_entry_points(Settings(services=data.get("SPT_API_SERVICES", "")).enabled_services)


def test_prod_serves_every_service_but_echo_each_with_its_worker(rendered: dict[str, Objs]) -> None:
    # echo stays a dev demo
    assert sorted(served_services(rendered["prod"])) == ["cutout", "evaluation", "index", "inference", "search"]
    evaluation = get(rendered["prod"], "Deployment", "worker-evaluation")
    worker = container(evaluation)
    assert worker["command"] == ["spt-api", "worker", "--queues", "evaluation", "--concurrency", "2"]
    assert worker["image"].startswith("ghcr.io/spt-3g/spt-api:")  # the CPU image (it installs the extra)
    assert worker["resources"] == {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "4Gi"}}
    assert evaluation["spec"]["replicas"] == 1 and "nodeSelector" not in evaluation["spec"]["template"]["spec"]
    assert "spt-api-server-worker-evaluation" not in names(rendered["prod"], "HorizontalPodAutoscaler")


@pytest.mark.parametrize("env", ENVS)
def test_every_served_service_has_a_worker_on_its_queue(env: str, rendered: dict[str, Objs]) -> None:
    # A service served with no worker on its queue takes jobs that stay QUEUED for ever. Production has a
    # worker on each queue a served service may place a job on; dev (no GPU) on each one's default queue.
    served = served_services(rendered[env])
    wanted = {q for spec in served.values() for q in (spec.queues if env == "prod" else (spec.queue,))}
    assert wanted - worker_queues(rendered[env]) == set(), sorted(served)


def test_gpu_worker_requests_a_gpu_on_gpu_nodes(rendered: dict[str, Objs]) -> None:
    gpu = get(rendered["prod"], "Deployment", "worker-inference-gpu")
    spec = gpu["spec"]["template"]["spec"]
    worker = container(gpu)
    assert worker["image"].startswith("ghcr.io/spt-3g/spt-api-gpu:")
    assert worker["resources"]["requests"]["nvidia.com/gpu"] == "1"
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert worker["resources"]["requests"]["memory"] == "16Gi"  # the entry's own resources are kept
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    cpu = get(rendered["prod"], "Deployment", "worker-cutout")
    assert "nvidia.com/gpu" not in str(cpu)
    assert not any("nvidia.com/gpu" in str(o) for env in DEV for o in rendered[env])


def test_worker_with_several_queues_and_own_autoscaling() -> None:
    values = environment_values("dev1")
    values["workers"] = [
        {"name": "mixed", "queues": ["a", "b"], "concurrency": 3, "gpu": True, "gpuCount": 2,
         "nodeSelector": {"pool": "gpu-a100"},
         "autoscaling": {"enabled": True, "minReplicas": 1, "maxReplicas": 4}},
    ]  # fmt: skip
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)
        text = next(t for p, t in chart.render(values, name="r", namespace="n").items() if p.endswith("workers.yaml"))
    assert '- "a,b"' in text and '- "3"' in text
    assert 'nvidia.com/gpu: "2"' in text
    assert "pool: gpu-a100" in text and 'nvidia.com/gpu.present: "true"' in text
    assert "kind: HorizontalPodAutoscaler" in text and "maxReplicas: 4" in text


# ---- Search shards -------------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "shards"), [("prod", 4), ("dev1", 1), ("dev2", 1)])
def test_search_shards_statefulset(env: str, shards: int, rendered: dict[str, Objs]) -> None:
    sts = get(rendered[env], "StatefulSet", "search")
    headless = get(rendered[env], "Service", "search")
    assert headless["spec"]["clusterIP"] == "None"
    assert sts["spec"]["serviceName"] == headless["metadata"]["name"]
    assert sts["spec"]["replicas"] == shards
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "index"
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == ("100Gi" if env == "prod" else "5Gi")
    shard = container(sts)
    assert {"name": "index", "mountPath": "/var/lib/spt-api"} in shard["volumeMounts"]
    command = shard["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    assert 'spt-api worker --queues "search-shard-${POD_NAME##*-}"' in command[2]
    assert env_of(shard)["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    anti = sts["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    (term,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == sts["spec"]["selector"]["matchLabels"]


def test_shard_ordinal_derivation() -> None:
    """The shell expansion in the shard command yields the StatefulSet ordinal."""
    import subprocess

    out = subprocess.run(
        ["sh", "-c", 'echo "search-shard-${POD_NAME##*-}"'],
        env={"POD_NAME": "spt-api-server-dev1-search-12"}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == "search-shard-12"


def test_hard_anti_affinity_option() -> None:
    values = environment_values("prod")
    values["searchShards"]["antiAffinity"] = "hard"
    with helm.Chart.load(str(CHART)) as chart:
        text = "".join(chart.render(values, name="spt-api-server", namespace="spt-api").values())
    assert "requiredDuringSchedulingIgnoredDuringExecution" in text


# ---- CronJobs and migrations -------------------------------------------------------------------


@pytest.mark.parametrize("env", ["prod", "dev1", "dev2"])
def test_cronjob_policies(env: str, rendered: dict[str, Objs]) -> None:
    compact = get(rendered[env], "CronJob", "index-compact")
    cleanup = get(rendered[env], "CronJob", "cleanup")
    assert container(compact)["command"] == ["spt-api", "index", "compact"]
    assert container(cleanup)["command"] == ["spt-api", "cleanup"]
    for cron in (compact, cleanup):
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
        job = cron["spec"]["jobTemplate"]["spec"]
        assert job["backoffLimit"] >= 0 and job["activeDeadlineSeconds"] > 0
        assert job["template"]["spec"]["restartPolicy"] == "Never"
    assert compact["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 7200


def test_prod_migrations_job_is_a_pre_install_pre_upgrade_hook(rendered: dict[str, Objs]) -> None:
    job = get(rendered["prod"], "Job", "migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert container(job)["command"] == ["spt-api", "migrate"]
    # Its settings come from a hook Secret created before it (the ConfigMap does not exist yet).
    env_secret = get(rendered["prod"], "Secret", "migrate-env")
    assert env_secret["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(env_secret["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    assert container(job)["envFrom"] == [{"secretRef": {"name": env_secret["metadata"]["name"]}}]
    assert "SPT_API_DATABASE_URL" in env_of(container(job))
    assert "initContainers" not in get(rendered["prod"], "Deployment", "api")["spec"]["template"]["spec"]


@pytest.mark.parametrize("env", DEV)
def test_dev_migrates_in_an_init_container(env: str, rendered: dict[str, Objs]) -> None:
    assert "Job" not in {o["kind"] for o in rendered[env] if o["metadata"]["name"].endswith("-migrate")}
    (init,) = get(rendered[env], "Deployment", "api")["spec"]["template"]["spec"]["initContainers"]
    assert init["command"] == ["spt-api", "migrate"]


# ---- Bundled dependencies ---------------------------------------------------------------------


def test_bundled_dependencies_off_in_prod_on_in_dev(rendered: dict[str, Objs]) -> None:
    for suffix in ("postgresql", "redis", "s3"):
        assert not any(o["metadata"]["name"].endswith("-" + suffix) for o in rendered["prod"]), suffix
    for env in DEV:
        get(rendered[env], "StatefulSet", "postgresql")
        get(rendered[env], "Deployment", "redis")
        get(rendered[env], "StatefulSet", "s3")
        for suffix in ("postgresql", "redis", "s3"):
            get(rendered[env], "Service", suffix)
        config = get(rendered[env], "ConfigMap", "config")["data"]
        release = f"spt-api-server-{env}"
        assert config["SPT_API_REDIS_URL"] == f"redis://{release}-redis:6379/0"
        assert config["SPT_API_S3_ENDPOINT_URL"] == f"http://{release}-s3:9000"
        secret = get(rendered[env], "Secret", "secret")["stringData"]
        assert secret["SPT_API_DATABASE_URL"].endswith(f"@{release}-postgresql:5432/spt")


def test_prod_takes_secrets_from_the_existing_secret(rendered: dict[str, Objs]) -> None:
    api = container(get(rendered["prod"], "Deployment", "api"))
    ref = env_of(api)["SPT_API_DATABASE_URL"]
    assert ref == {"secretKeyRef": {"name": "spt-api-credentials", "key": "SPT_API_DATABASE_URL"}}
    for key in ("SPT_API_SESSION_SECRET", "SPT_API_KEYCLOAK_CLIENT_SECRET"):  # auth is on in production
        assert env_of(api)[key] == {"secretKeyRef": {"name": "spt-api-credentials", "key": key}}
    assert not any(o["metadata"]["name"] == "spt-api-server-secret" for o in rendered["prod"])
