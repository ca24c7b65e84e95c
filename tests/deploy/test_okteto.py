"""okteto/: valid Okteto manifests (vendored schema, strict), aimed at the chart's workloads, ports apart."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.deploy._helpers import ROOT, get

OKTETO = ROOT / "okteto"
FILES = {"dev1": "okteto-dev1.yml", "dev2": "okteto-dev2.yml"}


def load(env: str) -> dict[str, Any]:
    doc = yaml.safe_load((OKTETO / FILES[env]).read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def local_ports(manifest: dict[str, Any]) -> list[int]:
    """Ports an `okteto up` listens on, or connects to, on the developer's machine."""
    ports = []
    for dev in manifest["dev"].values():
        ports += [int(str(f).split(":")[0]) for f in dev.get("forward", [])]
        ports += [int(str(r).split(":")[1]) for r in dev.get("reverse", [])]
    return ports


@pytest.mark.parametrize("env", FILES)
def test_manifest_is_valid(env: str, okteto_validator: Draft202012Validator) -> None:
    assert [e.message for e in okteto_validator.iter_errors(load(env))] == []


def test_schema_is_strict(okteto_validator: Draft202012Validator) -> None:
    manifest = load("dev1")
    manifest["dev"]["api"]["namespace"] = "spt-dev1"  # an Okteto 2.x field, gone in 3.x
    assert list(okteto_validator.iter_errors(manifest))


@pytest.mark.parametrize("env", FILES)
def test_port_pairs_are_strings(env: str) -> None:
    # Unquoted 22:22 is a base-60 integer in YAML 1.1.
    for dev in load(env)["dev"].values():
        for pair in (*dev.get("forward", []), *dev.get("reverse", [])):
            assert isinstance(pair, str), pair


def test_dev2_ports() -> None:
    dev = load("dev2")["dev"]
    assert dev["api"]["forward"] == ["8084:8080"]
    assert dev["api"]["reverse"] == ["9000:9001"]
    assert dev["webapp"]["forward"] == ["3000:3000", "9229:9229"]


def test_dev1_and_dev2_local_ports_do_not_collide() -> None:
    dev1, dev2 = local_ports(load("dev1")), local_ports(load("dev2"))
    assert len(set(dev1)) == len(dev1) and len(set(dev2)) == len(dev2)
    assert set(dev1).isdisjoint(dev2)
    # Same remote ports: only the local sides differ.
    for name in ("api", "webapp"):
        remote1 = [f.split(":")[-1] for f in load("dev1")["dev"][name]["forward"]]
        remote2 = [f.split(":")[-1] for f in load("dev2")["dev"][name]["forward"]]
        assert remote1 == remote2


@pytest.mark.parametrize("env", FILES)
def test_api_dev_container(env: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    api = load(env)["dev"]["api"]
    assert api["command"] == ["spt-api", "serve", "--reload"]
    assert set(api["sync"]) == {"../spt_api:/app/spt_api", "../workers:/app/workers"}
    for local in (p.split(":")[0] for p in api["sync"]):
        assert (OKTETO / local).resolve().parent == ROOT
    target = get(rendered[env], "Deployment", "api")
    assert api["selector"].items() <= target["spec"]["template"]["metadata"]["labels"].items()
    assert api["container"] in {c["name"] for c in target["spec"]["template"]["spec"]["containers"]}
    remote = int(api["forward"][0].split(":")[1])
    assert remote == target["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]


@pytest.mark.parametrize("env", FILES)
def test_webapp_dev_container(env: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    web = load(env)["dev"]["webapp"]
    assert "npm install" in " ".join(web["command"])
    assert "/app/node_modules" in web["volumes"]  # on the Okteto data volume, not synced
    assert web["persistentVolume"]["enabled"] is True
    assert web["sync"] == ["../webapp:/app"]
    target = get(rendered[env], "Deployment", "webapp")
    assert web["selector"].items() <= target["spec"]["template"]["metadata"]["labels"].items()
    assert [f.split(":")[1] for f in web["forward"]] == ["3000", "9229"]


def test_stignore_keeps_node_modules_out_of_the_sync() -> None:
    lines = (ROOT / "webapp" / ".stignore").read_text(encoding="utf-8").splitlines()
    assert "node_modules" in lines


def test_dockerfiles_run_as_non_root() -> None:
    for path in ("docker/Dockerfile", "docker/Dockerfile.gpu", "webapp/Dockerfile.dev"):
        text = (ROOT / path).read_text(encoding="utf-8")
        user = [line for line in text.splitlines() if line.startswith("USER ")]
        assert user and user[-1] not in ("USER root", "USER 0"), path
    assert "USER 10001:10001" in (ROOT / "docker/Dockerfile").read_text(encoding="utf-8")  # = chart runAsUser
    assert 'pip install ".[${EXTRAS}]"' in (ROOT / "docker/Dockerfile").read_text(encoding="utf-8")
    gpu = (ROOT / "docker/Dockerfile.gpu").read_text(encoding="utf-8")
    assert "nvidia/cuda" in gpu and "onnxruntime-gpu" in gpu and "faiss-gpu" in gpu
    assert 'CMD ["npm", "start"]' in (ROOT / "webapp/Dockerfile.dev").read_text(encoding="utf-8")


def test_the_images_install_every_services_extra() -> None:
    # The one image runs every CPU worker: each service's heavy dependencies must be in it by default.
    from spt_api.services import ServiceRegistry

    extras = {spec.extra for spec in ServiceRegistry.from_entry_points().values() if spec.extra}
    for path in ("docker/Dockerfile", "docker/Dockerfile.gpu"):
        text = (ROOT / path).read_text(encoding="utf-8")
        default = next(line for line in text.splitlines() if line.startswith("ARG EXTRAS="))
        assert extras <= set(default.removeprefix("ARG EXTRAS=").split(",")), path


def test_make_run_installs_every_services_extra() -> None:
    # `make run` serves every installed service: each must be able to run its jobs there too.
    from spt_api.services import ServiceRegistry

    extras = {spec.extra for spec in ServiceRegistry.from_entry_points().values() if spec.extra}
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    line = next(line for line in text.splitlines() if line.startswith("SERVICE_EXTRAS :="))
    assert extras <= set(line.removeprefix("SERVICE_EXTRAS :=").strip().split(","))
    assert "pip install -q -e '.[$(SERVICE_EXTRAS)]'" in text
