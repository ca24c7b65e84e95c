"""Every SPT_API_* name the chart sets is a field of spt_api.config.Settings; the required ones are set."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from spt_api.config import Settings
from spt_api.services import ServiceRegistry
from tests.deploy._helpers import CHART, ENVS, containers, pod_specs


def _service_setting_names() -> set[str]:
    """Each service's own settings: ``SPT_API_<SERVICE>_<FIELD>`` and the aliases it still accepts."""
    names: set[str] = set()
    for spec in ServiceRegistry.from_entry_points().values():
        if spec.settings is None:
            continue
        prefix = spec.settings.model_config.get("env_prefix", "")
        for field, info in spec.settings.model_fields.items():
            names.add(f"{prefix}{field.upper()}")
            choices = getattr(info.validation_alias, "choices", None) or []
            names |= {c for c in choices if isinstance(c, str) and c.startswith("SPT_API_")}
    return names


SETTINGS = {"SPT_API_" + name.upper() for name in Settings.model_fields} | _service_setting_names()
REQUIRED_IN_PRODUCTION = {"SPT_API_DATABASE_URL", "SPT_API_BROKER_URL", "SPT_API_REDIS_URL", "SPT_API_STORAGE_URL"}


def chart_setting_names(objs: list[dict[str, Any]]) -> dict[str, set[str]]:
    """SPT_API_* names each spt-api container receives, keyed by "Kind/name container"."""
    data: dict[str, set[str]] = {}
    for obj in objs:
        if obj["kind"] in ("ConfigMap", "Secret"):
            data[obj["metadata"]["name"]] = set(obj.get("data", {})) | set(obj.get("stringData", {}))
    seen: dict[str, set[str]] = {}
    for obj, spec in pod_specs(objs):
        for c in containers(spec):
            got: set[str] = {e["name"] for e in c.get("env", [])}
            for source in c.get("envFrom", []):
                ref = source.get("configMapRef") or source.get("secretRef")
                got |= data[ref["name"]]  # every referenced ConfigMap/Secret is rendered by the chart
            seen[f"{obj['kind']}/{obj['metadata']['name']} {c['name']}"] = {n for n in got if n.startswith("SPT_API_")}
    return seen


@pytest.mark.parametrize("env", ENVS)
def test_every_setting_the_chart_sets_exists(env: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    names = set().union(*chart_setting_names(rendered[env]).values())
    for obj in rendered[env]:
        if obj["kind"] in ("ConfigMap", "Secret") and obj["metadata"]["name"].endswith(("-config", "-secret", "-env")):
            names |= {n for n in (*obj.get("data", {}), *obj.get("stringData", {})) if n.startswith("SPT_API_")}
    assert names, "the chart sets no SPT_API_* setting at all"
    assert names - SETTINGS == set()


@pytest.mark.parametrize("env", ENVS)
def test_required_settings_reach_every_spt_api_container(env: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    per_container = {
        where: got
        for where, got in chart_setting_names(rendered[env]).items()
        if got  # spt-api containers only
    }
    assert len(per_container) >= 5
    for where, got in per_container.items():
        assert got >= REQUIRED_IN_PRODUCTION, (where, REQUIRED_IN_PRODUCTION - got)
        assert {"SPT_API_HOST", "SPT_API_DATA_DIR"} <= got, where


def test_values_files_use_only_settings_names() -> None:
    for name in ("values.yaml", "values-dev1.yaml", "values-dev2.yaml"):
        config = yaml.safe_load((CHART / name).read_text(encoding="utf-8"))["config"]
        used = {*config.get("env", {}), *config.get("secretEnv", {}), *config.get("existingSecretKeys", [])}
        used |= set(config.get("requiredEnv", []))
        assert used - SETTINGS == set(), name


def test_the_api_binds_all_interfaces(rendered: dict[str, list[dict[str, Any]]]) -> None:
    # Settings.host defaults to 127.0.0.1, unreachable through a Service.
    for env in ENVS:
        config = next(
            o for o in rendered[env] if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-config")
        )
        assert config["data"]["SPT_API_HOST"] == "0.0.0.0"
