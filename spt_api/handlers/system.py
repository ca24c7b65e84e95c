"""Service discovery, health, metrics and the OpenAPI description."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from spt_api import __version__
from spt_api.handlers.base import BaseHandler
from spt_api.metrics import Metrics
from spt_api.openapi import openapi_document

__all__ = ["SYSTEM_ROUTES", "IndexHandler"]

#: A readiness check that takes longer than this counts as failing (a hung backend).
HEALTH_CHECK_TIMEOUT = 3.0


class IndexHandler(BaseHandler):
    """Where to go from here: the first URL a newcomer opens (``/`` or the API base) answers with links."""

    def get(self) -> None:
        base = self.absolute(self.settings_obj.base_path)
        links = {
            "services": f"{base}/services",
            "openapi": f"{base}/openapi.json",
            "health": self.absolute("/health"),
        }
        if self.settings_obj.metrics_enabled:
            links["metrics"] = self.absolute("/metrics")
        self.write_json(
            {
                "name": "spt-api",
                "version": __version__,
                "description": "IVOA UWS 1.1 job service: POST parameters to a service's jobs URL to create a job.",
                "services": [
                    {"name": spec.name, "title": spec.title, "jobs": f"{base}/{spec.name}/jobs"}
                    for spec in self.jobs.services.values()
                ],
                "links": links,
            }
        )


class ServicesHandler(BaseHandler):
    def get(self) -> None:
        base = self.absolute(self.settings_obj.base_path)
        self.write_json(
            {
                "services": [
                    {
                        "name": spec.name,
                        "title": spec.title,
                        "description": spec.description,
                        "queue": spec.queue,
                        "jobs": f"{base}/{spec.name}/jobs",
                        "parameters": spec.parameter_schema(),
                    }
                    for spec in self.jobs.services.values()
                ]
            }
        )


class OpenAPIHandler(BaseHandler):
    def get(self) -> None:
        self.write_json(openapi_document(self.jobs.services, self.settings_obj.base_path))


class HealthHandler(BaseHandler):
    """Readiness: each backend's status; 503 when one fails. ``/health/live`` is liveness only."""

    async def get(self, probe: str | None = None) -> None:
        if probe == "live":
            # The process id tells replicas and forked processes apart in logs and tests.
            self.write_json({"status": "ok", "pid": os.getpid()})
            return
        checks: dict[str, Any] = {
            "database": self.jobs.store.ping,
            "queue": self.jobs.dispatcher.check,
            # Checked afresh, and remembered: result links answer 503 from it while the storage is down.
            "storage": self.jobs.objects.health.check,
        }

        async def run_check(check: Any) -> dict[str, str]:
            try:
                await asyncio.wait_for(self.jobs.call(check), HEALTH_CHECK_TIMEOUT)
                return {"status": "ok"}
            except Exception as exc:
                return {"status": "fail", "message": f"{type(exc).__name__}: {exc}"[:300]}

        # Together, so a hung backend costs the probe one timeout, not one per backend.
        results = await asyncio.gather(*(run_check(check) for check in checks.values()))
        components: dict[str, dict[str, str]] = dict(zip(checks, results, strict=True))
        components["events"] = (
            {"status": "ok"} if self.jobs.events.healthy() else {"status": "fail", "message": "not connected"}
        )
        ok = all(c["status"] == "ok" for c in components.values())
        self.write_json({"status": "ok" if ok else "fail", "components": components}, 200 if ok else 503)


class MetricsHandler(BaseHandler):
    def initialize(self, **kwargs: Any) -> None:  # type: ignore[override]
        self.metrics: Metrics = kwargs.pop("metrics")
        super().initialize(**kwargs)

    async def get(self) -> None:
        # A scrape reads the database and the broker (job counts, queue depths): not on the event loop.
        body = await self.jobs.call(generate_latest, self.metrics.registry)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(body)


SYSTEM_ROUTES: list[tuple[str, type[BaseHandler]]] = [
    (r"/services/?", ServicesHandler),
    (r"/openapi.json", OpenAPIHandler),
]
