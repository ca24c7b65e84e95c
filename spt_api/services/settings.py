"""The base of a service's own settings: ``SPT_API_<SERVICE>_*`` environment variables.

A service declares a subclass with its env prefix (``SPT_API_CUTOUT_``); the
core ``Settings.service_settings`` can override values in-process (tests,
notebooks), and those overrides travel to worker processes with the core settings.
"""

from __future__ import annotations

from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ServiceSettings"]


class ServiceSettings(BaseSettings):
    """Settings of one service; subclasses set ``model_config = service_settings_config("NAME")``."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    @classmethod
    def for_core(cls, core: Any, service: str) -> ServiceSettings:
        """This service's settings: its environment variables, overridden by ``core.service_settings[service]``."""
        overrides: dict[str, Any] = dict(getattr(core, "service_settings", {}).get(service, {}))
        return cls(**overrides)


def service_settings_config(service: str) -> SettingsConfigDict:
    """The pydantic-settings config of a service's settings class: prefix ``SPT_API_<SERVICE>_``."""
    return SettingsConfigDict(env_prefix=f"SPT_API_{service.upper()}_", extra="ignore", populate_by_name=True)
