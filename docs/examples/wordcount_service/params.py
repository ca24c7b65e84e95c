"""The ``wordcount`` service's declaration: its parameters and where its code is (light: the API imports it)."""

from __future__ import annotations

from pydantic import Field

from spt_api.services import ParamsModel, ServiceSpec

__all__ = ["SERVICE", "WordCountParams"]


class WordCountParams(ParamsModel):
    text: str = Field(title="The text whose words are counted", min_length=1, max_length=100_000)
    top: int = Field(10, title="How many of the most frequent words to report", ge=1, le=1000)


SERVICE = ServiceSpec(
    name="wordcount",
    title="Word count",
    description="Counts the words of a text and reports the most frequent ones as JSON.",
    params_model=WordCountParams,
    run="wordcount_service.run:run",
    queue="wordcount",
)
