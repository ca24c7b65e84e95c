"""The cutout service's own settings: ``SPT_API_CUTOUT_*`` (``SPT_API_MAPS_URL`` still works)."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field

from spt_api.services import ServiceSettings, service_settings_config

__all__ = ["CutoutSettings", "maps_url"]


class CutoutSettings(ServiceSettings):
    """Where the sky maps are; the S3 endpoint and credentials are those of the core settings."""

    model_config = service_settings_config("cutout")

    maps_url: str = Field(
        "",
        title="Directory or s3:// prefix of the sky maps; empty: data_dir/maps",
        # SPT_API_MAPS_URL is the name deployments already use (the chart's values).
        validation_alias=AliasChoices("SPT_API_CUTOUT_MAPS_URL", "SPT_API_MAPS_URL", "maps_url"),
    )


def maps_url(settings: Any, cutout: CutoutSettings | None = None) -> str:
    """Where the maps are under the core ``settings``: the cutout setting, else ``data_dir/maps``."""
    cutout = cutout or CutoutSettings.for_core(settings, "cutout")  # type: ignore[assignment]
    assert cutout is not None
    return cutout.maps_url or str((settings.data_dir / "maps").resolve())
