"""Generate docs/api.md (from the OpenAPI description) and docs/configuration.md (from Settings).

Run ``python -m spt_api.docs`` after changing a service, a route or a setting;
``tests/test_docs.py`` fails when the committed files are stale.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from spt_api.config import Settings
from spt_api.openapi import openapi_document
from spt_api.services import ServiceRegistry

__all__ = ["api_markdown", "configuration_markdown", "main"]

DOCS = Path(__file__).resolve().parent.parent / "docs"


def services() -> ServiceRegistry:
    return ServiceRegistry.from_entry_points()


def configuration_markdown() -> str:
    lines = [
        "# Configuration",
        "",
        "Generated from `spt_api/config.py` by `python -m spt_api.docs`. Every setting is an environment",
        "variable; the Helm chart sets the same names (`config.env` / `config.secretEnv`).",
        "",
        "| Variable | Default | Meaning |",
        "|---|---|---|",
    ]
    for name, info in Settings.model_fields.items():
        default = info.get_default(call_default_factory=True)
        shown = "(secret)" if isinstance(default, SecretStr) else "" if default in ("", None) else str(default)
        extra = " (also `PORT`)" if name == "port" else " (also `WORKERS`)" if name == "workers" else ""
        lines.append(f"| `SPT_API_{name.upper()}`{extra} | `{shown}` | {info.title or ''} |")
    for service, spec in services().items():
        if spec.settings is None:
            continue
        lines += ["", f"## The `{service}` service", "", "| Variable | Default | Meaning |", "|---|---|---|"]
        prefix = spec.settings.model_config.get("env_prefix", "")
        for name, info in spec.settings.model_fields.items():
            default = "" if info.default in ("", None) else str(info.default)
            choices = getattr(info.validation_alias, "choices", None) or []
            own = f"{prefix}{name.upper()}"
            aliases = [c for c in choices if isinstance(c, str) and c.startswith("SPT_API_") and c != own]
            extra = "".join(f" (also `{alias}`)" for alias in aliases)
            lines.append(f"| `{prefix}{name.upper()}`{extra} | `{default}` | {info.title or ''} |")
    return "\n".join(lines) + "\n"


def _schema_summary(schema: dict[str, Any]) -> str:
    kind = schema.get("type") or ("ref" if "$ref" in schema else "")
    if "enum" in schema:
        return " \\| ".join(str(v) for v in schema["enum"])
    return str(kind)


def api_markdown() -> str:
    doc = openapi_document(services())
    lines = [
        "# API reference",
        "",
        "Generated from the OpenAPI 3.1 description (`GET /api/openapi.json`) by `python -m spt_api.docs`.",
        "Documents are UWS 1.1 XML by default and JSON with `Accept: application/json`; errors are",
        "`text/plain` (DALI) or JSON `{error, message, status, parameter}` by the same rule.",
        "",
    ]
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            lines.append(f"## `{method.upper()} {path}`")
            lines.append("")
            if operation.get("summary"):
                lines += [operation["summary"], ""]
            for param in operation.get("parameters", []):
                lines.append(f"- {param.get('in', 'query')} `{param['name']}`: {_schema_summary(param['schema'])}")
            body = operation.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                schema = content["schema"]
                props = schema.get("properties", {})
                names = ", ".join(f"`{n}`" for n in props) or "see the service's parameter schema"
                lines.append(f"- body ({media}): {names}")
            codes = ", ".join(f"{code} {resp['description']}" for code, resp in operation["responses"].items())
            lines += [f"- responses: {codes}", ""]
    lines.append("## Service parameters")
    lines.append("")
    for name, spec in services().items():
        lines += [f"### `{name}`: {spec.title}", "", spec.description, "", "| Parameter | Type | Meaning |",
                  "|---|---|---|"]
        schema = spec.parameter_schema()
        for pname, prop in schema.get("properties", {}).items():
            kind = prop.get("type") or " / ".join(str(a.get("type", "")) for a in prop.get("anyOf", []))
            lines.append(f"| `{pname}` | {kind} | {prop.get('title', '')} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    DOCS.mkdir(exist_ok=True)
    (DOCS / "api.md").write_text(api_markdown())
    (DOCS / "configuration.md").write_text(configuration_markdown())
    print("wrote docs/api.md and docs/configuration.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
