"""The service SDK: everything a service needs to declare itself and run, and nothing more.

Both the API and the workers import this package; it imports only the domain
(``spt_api.uws``) and pydantic. A service lives in its own folder (e.g.
``workers/services/<name>/``) and is registered by one entry-point line.
"""

from spt_api.services.context import ChildOutcome, JobContext, MergeContext
from spt_api.services.declaration import ServiceSpec, SyncResult, load_function
from spt_api.services.errors import FatalJobError, PermissionDeniedError, TransientJobError, UsageError
from spt_api.services.inputs import InputFile, InputReader, input_fields
from spt_api.services.params import ParamsModel, params_from_json, usage_error_from_validation
from spt_api.services.registry import ENTRY_POINT_GROUP, ServiceRegistry, UnknownServiceError
from spt_api.services.resources import NotFoundError, Resource, ResourceRequest
from spt_api.services.settings import ServiceSettings, service_settings_config

__all__ = [
    "ENTRY_POINT_GROUP",
    "ChildOutcome",
    "FatalJobError",
    "InputFile",
    "InputReader",
    "JobContext",
    "MergeContext",
    "NotFoundError",
    "ParamsModel",
    "PermissionDeniedError",
    "Resource",
    "ResourceRequest",
    "ServiceRegistry",
    "ServiceSettings",
    "ServiceSpec",
    "SyncResult",
    "TransientJobError",
    "UnknownServiceError",
    "UsageError",
    "input_fields",
    "load_function",
    "params_from_json",
    "service_settings_config",
    "usage_error_from_validation",
]
