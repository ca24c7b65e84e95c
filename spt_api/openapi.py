"""The OpenAPI 3.1 description of the API, generated from the service declarations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from spt_api import __version__
from spt_api.services import ServiceSpec
from spt_api.uws.json_documents import component_schemas
from spt_api.uws.phases import ExecutionPhase

__all__ = ["openapi_document"]

_PHASES = [p.value for p in ExecutionPhase]


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }


def _see_other(description: str) -> dict[str, Any]:
    return {"description": description, "headers": {"Location": {"schema": {"type": "string"}}}}


def _xml_json(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            "application/xml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}},
        },
    }


def _form(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": schema},
        },
    }


_ERRORS = {"400": _error("Bad parameter"), "404": _error("No such service or job")}
_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[^/]+$"}}


def _service_paths(base: str, spec: ServiceSpec) -> dict[str, Any]:
    name = spec.name
    params_ref = {"$ref": f"#/components/schemas/{name}_parameters"}
    create_form = {
        "allOf": [params_ref],
        "properties": {
            "PHASE": {"type": "string", "enum": ["RUN"]},
            "RUNID": {"type": "string", "maxLength": 64},
        },
    }
    jobs = f"{base}/{name}/jobs"
    job = f"{jobs}/{{job_id}}"
    tag = [name]
    return {
        jobs: {
            "get": {
                "tags": tag,
                "summary": f"List {name} jobs (UWS 1.1 §2.2.2.1)",
                "parameters": [
                    {
                        "name": "PHASE",
                        "in": "query",
                        "schema": {"type": "array", "items": {"type": "string", "enum": _PHASES}},
                        "style": "form",
                        "explode": True,
                    },
                    {"name": "AFTER", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                    {"name": "LAST", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                    {
                        "name": "OWNER",
                        "in": "query",
                        "description": "An admin's filter: one owner's jobs (login name or subject)",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {"200": _xml_json("The job list", "JobList"), **_ERRORS},
            },
            "post": {
                "tags": tag,
                "summary": f"Create a {name} job; PHASE=RUN starts it",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "description": "Makes the POST safe to retry: the same key and parameters get a 303 "
                        "to the job the first try created; the same key with other parameters, a 409",
                        "schema": {"type": "string", "maxLength": 255},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {"schema": create_form},
                        "application/json": {"schema": create_form},
                    },
                },
                "responses": {
                    "303": _see_other("The new job (or, for a retried Idempotency-Key, the first try's)"),
                    **_ERRORS,
                    "409": _error("Idempotency-Key already used with other parameters"),
                    "413": _error("Body too large"),
                },
            },
        },
        job: {
            "parameters": [_JOB_ID],
            "get": {
                "tags": tag,
                "summary": "The job; WAIT blocks until its phase changes (UWS 1.1 §2.2.1.2)",
                "parameters": [
                    {"name": "WAIT", "in": "query", "schema": {"type": "integer", "minimum": -1}},
                    {"name": "PHASE", "in": "query", "schema": {"type": "string", "enum": _PHASES}},
                ],
                "responses": {"200": _xml_json("The job", "Job"), **_ERRORS},
            },
            "post": {
                "tags": tag,
                "summary": "ACTION=DELETE destroys the job",
                "requestBody": _form({"ACTION": {"type": "string", "enum": ["DELETE"]}}, ["ACTION"]),
                "responses": {"303": _see_other("The job list"), **_ERRORS},
            },
            "delete": {
                "tags": tag,
                "summary": "Destroy the job and its results",
                "responses": {"303": _see_other("The job list"), **_ERRORS},
            },
        },
        f"{job}/phase": {
            "parameters": [_JOB_ID],
            "get": {"tags": tag, "responses": {"200": _text("The phase"), **_ERRORS}},
            "post": {
                "tags": tag,
                "requestBody": _form({"PHASE": {"type": "string", "enum": ["RUN", "ABORT"]}}, ["PHASE"]),
                "responses": {
                    "303": _see_other("The job"),
                    "403": _error("Not allowed in this phase"),
                    "503": _error("Queue unavailable"),
                    **_ERRORS,
                },
            },
        },
        f"{job}/executionduration": {
            "parameters": [_JOB_ID],
            "get": {"tags": tag, "responses": {"200": _text("Seconds; 0 is unlimited"), **_ERRORS}},
            "post": {
                "tags": tag,
                "requestBody": _form({"EXECUTIONDURATION": {"type": "integer", "minimum": 0}}, ["EXECUTIONDURATION"]),
                "responses": {"303": _see_other("The job"), "403": _error("Job not PENDING"), **_ERRORS},
            },
        },
        f"{job}/destruction": {
            "parameters": [_JOB_ID],
            "get": {"tags": tag, "responses": {"200": _text("ISO 8601 instant"), **_ERRORS}},
            "post": {
                "tags": tag,
                "requestBody": _form(
                    {"DESTRUCTION": {"type": "string", "format": "date-time"}}, ["DESTRUCTION"]
                ),
                "responses": {"303": _see_other("The job"), **_ERRORS},
            },
        },
        f"{job}/error": {
            "parameters": [_JOB_ID],
            "get": {"tags": tag, "responses": {"200": _text("The error document"), **_ERRORS}},
        },
        f"{job}/quote": {
            "parameters": [_JOB_ID],
            "get": {"tags": tag, "responses": {"200": _text("ISO 8601 instant or empty"), **_ERRORS}},
        },
        f"{job}/owner": {
            "parameters": [_JOB_ID],
            "get": {"tags": tag, "responses": {"200": _text("Owner id or empty"), **_ERRORS}},
        },
        f"{job}/parameters": {
            "parameters": [_JOB_ID],
            "get": {"tags": tag, "responses": {"200": _xml_json("Parameters", "Parameters"), **_ERRORS}},
            "post": {
                "tags": tag,
                "requestBody": {
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": params_ref}},
                },
                "responses": {"303": _see_other("The job"), "403": _error("Job not PENDING"), **_ERRORS},
            },
        },
        f"{job}/results": {
            "parameters": [_JOB_ID],
            "get": {"tags": tag, "responses": {"200": _xml_json("Results", "Results"), **_ERRORS}},
        },
        f"{job}/results/{{result_id}}": {
            "parameters": [
                _JOB_ID,
                {
                    "name": "result_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[^/]+$"},
                },
            ],
            "get": {
                "tags": tag,
                "responses": {
                    "200": {"description": "The result's bytes", "content": {"*/*": {}}},
                    "303": _see_other("A signed URL of the result"),
                    **_ERRORS,
                },
            },
        },
    }


def _sync_paths(base: str, spec: ServiceSpec) -> dict[str, Any]:
    """DALI sync: the same parameters as the service's jobs, answered in the same exchange."""
    answers = {
        "200": {"description": "The job's one result", "content": {"*/*": {}}},
        "303": _see_other("Several results (the results list), or still running (the job)"),
        **_ERRORS,
        "429": _error("Too many sync requests at once: retry after Retry-After seconds, or submit a job"),
        "503": _error("The job failed for a reason other than the request (the error summary says which)"),
    }
    params = {"$ref": f"#/components/schemas/{spec.name}_parameters"}
    return {
        f"{base}/{spec.name}/sync": {
            "get": {
                "tags": [spec.name],
                "summary": f"DALI sync: one {spec.name} answered in the same exchange (parameters in the query)",
                "responses": answers,
            },
            "post": {
                "tags": [spec.name],
                "summary": f"DALI sync: one {spec.name} answered in the same exchange",
                "requestBody": {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": params}}},
                "responses": answers,
            },
        }
    }


def _resource_paths(base: str, spec: ServiceSpec) -> dict[str, Any]:
    """A service's extra resources (``ServiceSpec.resources``): JSON in, JSON out."""
    paths: dict[str, Any] = {}
    for resource in spec.load_resources():
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[^/]+$"}}
            for name in resource.path_names
        ]
        operations: dict[str, Any] = {}
        for method in resource.methods:
            operation: dict[str, Any] = {
                "tags": [spec.name],
                "summary": resource.summary or f"{method.upper()} {resource.relative_path()}",
                "responses": {
                    "200": {"description": "The resource, as JSON", "content": {"application/json": {}}},
                    **_ERRORS,
                    "503": _error("A backend (storage, job database) is unavailable"),
                },
            }
            if parameters:
                operation["parameters"] = parameters
            operations[method] = operation
        paths[base + resource.relative_path()] = operations
    return paths


def _components(services: Mapping[str, ServiceSpec]) -> dict[str, Any]:
    # The documents' schemas come from the models the handlers render: one source for both.
    schemas: dict[str, Any] = component_schemas()
    for name, spec in services.items():
        schema = spec.params_model.model_json_schema(ref_template="#/components/schemas/{model}")
        for def_name, definition in schema.pop("$defs", {}).items():
            schemas[def_name] = definition
        schema["additionalProperties"] = False
        schemas[f"{name}_parameters"] = schema
    return schemas


def openapi_document(services: Mapping[str, ServiceSpec], base: str = "/api") -> dict[str, Any]:
    index = {
        "get": {
            "summary": "Where to go from here: the services' job lists and the other entry points",
            "responses": {"200": {"description": "Links", "content": {"application/json": {}}}},
        }
    }
    paths: dict[str, Any] = {
        "/": index,
        base: index,
        f"{base}/services": {
            "get": {
                "summary": "The services and their parameter schemas",
                "responses": {"200": {"description": "Services", "content": {"application/json": {}}}},
            }
        },
        "/health": {
            "get": {
                "summary": "Readiness, per component",
                "responses": {
                    "200": {
                        "description": "Ready (status ok, or degraded: a service's own check failed)",
                        "content": {"application/json": {}},
                    },
                    "503": {"description": "A core backend is failing", "content": {"application/json": {}}},
                },
            }
        },
    }
    for spec in services.values():
        paths.update(_service_paths(base, spec))
        paths.update(_sync_paths(base, spec))
        paths.update(_resource_paths(base, spec))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "spt-api",
            "version": __version__,
            "description": "IVOA UWS 1.1 job service. XML by default; JSON with Accept: application/json.",
        },
        "paths": paths,
        "components": {"schemas": _components(services)},
    }
