"""Service discovery, health, metrics and the OpenAPI description."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from spt_api import __version__
from spt_api.handlers.base import BaseHandler
from spt_api.handlers.webapp import WEBAPP_PATH, webapp_built
from spt_api.metrics import Metrics
from spt_api.openapi import openapi_document
from spt_api.services import ServiceSpec

__all__ = ["SYSTEM_ROUTES", "IndexHandler"]

#: A readiness check that takes longer than this counts as failing (a hung backend).
HEALTH_CHECK_TIMEOUT = 3.0


class IndexHandler(BaseHandler):
    """Where to go from here: the first URL a newcomer opens (``/`` or the API base) answers with links."""
    requires_auth = False  # public

    def get(self) -> None:
        base = self.absolute(self.settings_obj.base_path)
        links = {
            "services": f"{base}/services",
            "openapi": f"{base}/openapi.json",
            "health": self.absolute("/health"),
        }
        if self.settings_obj.metrics_enabled:
            links["metrics"] = self.absolute("/metrics")
        # The page most people want: without a link here, a newcomer at / never finds it.
        webapp = self.absolute(WEBAPP_PATH + "/") if webapp_built(self.settings_obj) else None
        if webapp is not None:
            links["webapp"] = webapp
        services = [
            {"name": spec.name, "title": spec.title, "jobs": f"{base}/{spec.name}/jobs"}
            for spec in self.jobs.services.values()
        ]
        description = "IVOA UWS 1.1 job service: POST parameters to a service's jobs URL to create a job."
        if self.wants_html:
            for service, spec in zip(services, self.jobs.services.values(), strict=True):
                service["description"] = spec.description
            self.write_page(
                "index.html", version=__version__, description=description, services=services, links=links,
                webapp=webapp,
            )
            return
        self.write_json(
            {
                "name": "spt-api",
                "version": __version__,
                "description": description,
                "services": services,
                "links": links,
            }
        )


class ServicesHandler(BaseHandler):
    requires_auth = False  # public
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
    requires_auth = False  # public
    def get(self) -> None:
        self.write_json(openapi_document(self.jobs.services, self.settings_obj.base_path))


class HealthHandler(BaseHandler):
    """Readiness: each backend's status, and each service's; ``/health/live`` is liveness only.

    The core backends (database, queue, storage, events) decide readiness: when one fails the answer
    is 503, as no job could run. A service whose own check (``ServiceSpec.health``) finds a problem,
    such as the cutout service without its map catalogue, is reported as the component
    ``service:<name>`` with status ``fail`` and the problems as its message, and the overall status
    ``degraded``; the answer stays 200, because the other services still work and taking the replica
    out of its load balancer would stop them too, without bringing the missing maps back.
    """
    requires_auth = False  # public

    checks_host = False  # probes call the pod's address

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
        service_checks = {f"service:{spec.name}": spec for spec in self.jobs.services.values() if spec.health}

        # Together, so a hung backend costs the probe one timeout, not one per backend.
        results = await asyncio.gather(
            *(self._run(check) for check in checks.values()),
            *(self._run(self._service_check(spec)) for spec in service_checks.values()),
        )
        components: dict[str, dict[str, str]] = dict(zip([*checks, *service_checks], results, strict=True))
        components["events"] = (
            {"status": "ok"} if self.jobs.events.healthy() else {"status": "fail", "message": "not connected"}
        )
        core_ok = all(c["status"] == "ok" for name, c in components.items() if name not in service_checks)
        services_ok = all(components[name]["status"] == "ok" for name in service_checks)
        status = "fail" if not core_ok else "ok" if services_ok else "degraded"
        self.write_json({"status": status, "components": components}, 200 if core_ok else 503)

    async def _run(self, check: Any) -> dict[str, str]:
        try:
            await asyncio.wait_for(self.jobs.call(check), HEALTH_CHECK_TIMEOUT)
            return {"status": "ok"}
        except ServiceProblemsError as exc:
            return {"status": "fail", "message": str(exc)[:1000]}
        except Exception as exc:
            return {"status": "fail", "message": f"{type(exc).__name__}: {exc}"[:300]}

    def _service_check(self, spec: ServiceSpec) -> Any:
        """A check that raises with the service's problems (its hook runs in the job-store thread pool)."""
        settings = self.settings_obj

        def check() -> None:
            hook = spec.load_health()
            problems = hook(settings, spec.settings_for(settings)) if hook else []
            if problems:
                raise ServiceProblemsError("; ".join(problems))

        return check


class ServiceProblemsError(Exception):
    """What a service's health hook found; its message is the component's message as it is."""


class MetricsHandler(BaseHandler):
    requires_auth = False  # public
    checks_host = False  # Prometheus scrapes the pod's address

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
