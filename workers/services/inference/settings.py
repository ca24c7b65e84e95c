"""The inference service's own settings: ``SPT_API_INFERENCE_*``."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from spt_api.services import ServiceSettings, service_settings_config

__all__ = ["InferenceSettings", "inference_settings", "models_url"]


class InferenceSettings(ServiceSettings):
    """Where the model repository is, and how much memory a worker process keeps for loaded models."""

    model_config = service_settings_config("inference")

    models_url: str = Field(
        "", title="Directory or s3:// prefix of the Triton-layout model repository; empty: data_dir/models"
    )
    session_cache_mb: int = Field(
        2048, title="Model sessions a worker process keeps loaded, by model file size (MB; LRU)", ge=1
    )


def inference_settings(settings: Any, inference: InferenceSettings | None = None) -> InferenceSettings:
    if inference is not None:
        return inference
    found = InferenceSettings.for_core(settings, "inference")
    assert isinstance(found, InferenceSettings)
    return found


def models_url(settings: Any, inference: InferenceSettings | None = None) -> str:
    """The model repository under the core ``settings``: the service's setting, else ``data_dir/models``."""
    return inference_settings(settings, inference).models_url or str((settings.data_dir / "models").resolve())
