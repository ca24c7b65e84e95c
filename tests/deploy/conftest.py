"""Fixtures of the deployment tests: the rendered environments and the Okteto schema validator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from spt_api.deploy import render_environment
from tests.deploy._helpers import ENVS, SCHEMAS


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Objects of every environment, rendered once per session (a few ms each)."""
    return {env: render_environment(env) for env in ENVS}


@pytest.fixture(scope="session")
def okteto_validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMAS / "okteto.schema.json").read_text(encoding="utf-8")))
