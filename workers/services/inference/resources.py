"""``GET /api/models`` and ``/api/models/{name}``: the repository's models and the live servers that can serve each.

Light: runs in the API process (the repository reader imports no onnxruntime). A model's servers are
the live workers (their heartbeats) that consume its queue and offer all its requirements; with none,
the model says what it waits for ("waiting for a server with gpu").
"""

from __future__ import annotations

from typing import Any

from spt_api.services import Resource, ResourceRequest
from spt_api.services.resources import NotFoundError
from spt_api.uws.workers import WorkerInfo, missing_capabilities
from workers.services.inference.repository import ModelInfo, ModelRepository
from workers.services.inference.settings import models_url

__all__ = ["model_document", "resources"]


def model_document(info: ModelInfo, workers: list[WorkerInfo]) -> dict[str, Any]:
    document = info.to_json()
    if info.problem is not None:
        document["servers"] = []
        document["waiting"] = None
        return document
    servers = [w for w in workers if w.serves(info.queue) and w.can_run(info.requirements)]
    document["servers"] = [{"workerId": w.worker_id, "hostname": w.hostname} for w in servers]
    missing = missing_capabilities(info.requirements, workers, info.queue)
    document["waiting"] = f"waiting for a server with {', '.join(sorted(missing))}" if missing else None
    return document


def _repository(request: ResourceRequest) -> ModelRepository:
    return ModelRepository(models_url(request.settings, request.service_settings), request.settings)


def list_models(request: ResourceRequest) -> dict[str, Any]:
    workers = request.workers()
    return {"models": [model_document(info, workers) for info in _repository(request).models()]}


def get_model(request: ResourceRequest) -> dict[str, Any]:
    name = request.path_args["name"]
    repository = _repository(request)
    if name not in repository.names() or not repository.versions(name):
        raise NotFoundError(f"no model {name!r}; see /api/models")
    version = request.param("version")
    info = repository.model(name, int(version) if version and version.isdigit() else None)
    return model_document(info, request.workers())


def resources() -> list[Resource]:
    return [
        Resource("/api/models", get=list_models, summary="The models of the repository and the servers for each"),
        Resource("/api/models/{name}", get=get_model, summary="One model: versions, signature, requirements, servers"),
    ]
