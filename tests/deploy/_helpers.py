"""Helpers of the deployment tests: paths, strict CRD schemas, object lookup."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator

from spt_api.deploy import ENVIRONMENTS

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "spt-api-server"
SCHEMAS = Path(__file__).parent / "schemas"
ENVS = tuple(ENVIRONMENTS)


def strict(schema: Any) -> Any:
    """Forbid unknown keys wherever a (CRD) schema lists properties, like kubeconform -strict."""
    if isinstance(schema, dict):
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        for value in schema.values():
            strict(value)
    elif isinstance(schema, list):
        for value in schema:
            strict(value)
    return schema


@cache
def crd_validator(name: str) -> Draft7Validator:
    """A strict validator for the CRD in ``schemas/NAME`` (built once: the Application CRD is 400 kB)."""
    crd = yaml.safe_load((SCHEMAS / name).read_text(encoding="utf-8"))
    return Draft7Validator(strict(copy.deepcopy(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])))


def objects(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def get(objs: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    """The one object of ``kind`` whose name ends with ``-suffix`` (the release prefix varies)."""
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"].endswith("-" + suffix)]
    assert len(found) == 1, f"{kind} *-{suffix}: {[o['metadata']['name'] for o in found]}"
    return found[0]


def names(objs: list[dict[str, Any]], kind: str) -> set[str]:
    return {o["metadata"]["name"] for o in objs if o["kind"] == kind}


def pod_specs(objs: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(object, pod spec) of every workload in ``objs``."""
    for o in objs:
        kind = o["kind"]
        if kind in ("Deployment", "StatefulSet", "Job"):
            yield o, o["spec"]["template"]["spec"]
        elif kind == "CronJob":
            yield o, o["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.\-/]+):(?P<rest>.*)$")


def undocumented_keys(text: str) -> list[str]:
    """Keys of a values file without a helm-docs ``# --`` comment, as "LINE key".

    A key is documented by a ``# --`` comment just above it (possibly followed by more comment
    lines); a documented key covers everything nested in it; an undocumented block header is
    fine, its keys being checked one by one.
    """
    lines = text.splitlines()
    entries: list[tuple[int, int, str, bool, bool]] = []  # (line, indent, key, documented, is header)
    covered_below: int | None = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if covered_below is not None and indent > covered_below:
            continue
        covered_below = None
        m = _KEY.match(line)
        if not m:
            continue  # a list item of an undocumented list: reported through its key
        comments = []
        for prev in reversed(lines[:i]):
            if not prev.strip().startswith("#"):
                break
            comments.append(prev.strip())
        documented = any(c.startswith("# --") for c in comments)
        entries.append((i + 1, indent, m["key"], documented, m["rest"].strip() == ""))
        if documented:
            covered_below = indent
    missing = []
    for n, (lineno, indent, key, documented, header) in enumerate(entries):
        has_children = n + 1 < len(entries) and entries[n + 1][1] > indent
        # An undocumented block header is fine: its keys are checked one by one.
        if not documented and not (header and has_children):
            missing.append(f"{lineno} {key}")
    return missing


def documented_keys(text: str) -> list[tuple[str, str]]:
    """(dotted key path, description) of every ``# --`` comment of a values file, in file order."""
    rows: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing blocks
    comment: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            comment = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and comment:
            comment.append(stripped[1:].strip())
            continue
        m = _KEY.match(line)
        if not m or stripped.startswith("-"):
            comment = []
            continue
        indent = len(m["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([*(k for _, k in stack), m["key"]])
        if comment:
            rows.append((path, " ".join(comment)))
            comment = []
        stack.append((indent, m["key"]))
    return rows
