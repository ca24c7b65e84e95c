"""The one handler of every service's extra HTTP resources (``ServiceSpec.resources``).

Each route is one :class:`~spt_api.services.Resource`; its callable runs in the job service's
thread pool with a :class:`~spt_api.services.ResourceRequest`, and its value is answered as JSON.
Errors are the usual error documents: ``UsageError`` 400, ``NotFoundError`` 404, a method the
resource lacks 405, a backend down 503.
"""

from __future__ import annotations

import secrets
from typing import Any

from spt_api.handlers.base import BaseHandler
from spt_api.job_inputs import Upload
from spt_api.services import Resource, ResourceRequest, ServiceSpec
from spt_api.services.inputs import INPUTS_PREFIX
from spt_api.services.resources import ResourceFunction
from spt_api.storage import safe_name
from spt_api.uws.errors import MethodNotAllowedError

__all__ = ["ResourceHandler", "resource_routes"]


class ResourceHandler(BaseHandler):
    def initialize(self, resource: Resource, spec: ServiceSpec, **common: Any) -> None:  # type: ignore[override]
        super().initialize(**common)
        self.resource = resource
        self.spec = spec

    async def get(self, **path_args: str) -> None:
        await self._answer(self.resource.get, path_args)

    async def post(self, **path_args: str) -> None:
        await self._answer(self.resource.post, path_args)

    async def delete(self, **path_args: str) -> None:
        await self._answer(self.resource.delete, path_args)

    def _allowed(self) -> str:
        """The resource's methods, as a 405's ``Allow`` header and its message list them."""
        return ", ".join(name.upper() for name in self.resource.methods)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        if status_code == 405:  # RFC 9110 §15.5.6: a 405 says what is allowed (send_error cleared the headers)
            self.set_header("Allow", self._allowed())
        super().write_error(status_code, **kwargs)

    async def _answer(self, func: ResourceFunction | None, path_args: dict[str, str]) -> None:
        if func is None:
            raise MethodNotAllowedError(
                f"method {self.request.method} is not allowed on {self.request.path} (allowed: {self._allowed()})"
            )
        params = await self.read_params(binary=frozenset(name.lower() for name in self.resource.uploads))
        request = ResourceRequest(
            principal=self.principal(),
            path_args=dict(path_args),
            params=params,
            settings=self.settings_obj,
            service_settings=self.spec.settings_for(self.settings_obj),
            storage=self.jobs.objects,
            workers=self.jobs.live_workers,
        )
        value = await self.jobs.call(self._call_with_uploads, func, request, list(self.uploads))
        self.write_json(value)

    def _call_with_uploads(self, func: ResourceFunction, request: ResourceRequest, uploads: list[Upload]) -> Any:
        """Store the request's file parts under a prefix of their own, call, then remove them: whatever the
        callable keeps, it has copied (a log entry, a model), so nothing is left behind on any outcome."""
        if not uploads:
            return func(request)
        prefix = f"{INPUTS_PREFIX}/resource-{secrets.token_hex(10)}"
        storage = self.jobs.objects
        try:
            for index, upload in enumerate(uploads):
                key = f"{prefix}/{index}-{safe_name(upload.filename or upload.name)}"
                storage.put_bytes(key, upload.body, upload.content_type)
                request.inputs.setdefault(upload.name.lower(), key)
            return func(request)
        finally:
            storage.delete_prefix(prefix + "/")


def resource_routes(services: dict[str, ServiceSpec] | Any) -> list[tuple[str, Resource, ServiceSpec]]:
    """(pattern below the API base, resource, its service) of every service's resources."""
    routes = []
    for spec in services.values():
        for resource in spec.load_resources():
            routes.append((resource.route_pattern(), resource, spec))
    return routes
