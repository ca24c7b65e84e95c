"""Parameters of the ``echo`` service (light: imported by the API)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from spt_api.services import ParamsModel, ServiceSpec, UsageError

__all__ = ["SERVICE", "EchoParams"]

#: Largest output an echo job may write, all its parts together; keeps a demo from filling the disk.
MAX_ECHO_SIZE = 64 * 1024 * 1024
#: Most worker time an echo job may sleep, all its parts together (seconds).
MAX_ECHO_DELAY = 600


class EchoParams(ParamsModel):
    message: str = Field("hello", title="Text written to the result", max_length=10_000)
    delay: float = Field(
        0.0, title="Seconds the job (each part) sleeps before finishing", ge=0, le=MAX_ECHO_DELAY
    )
    fail: bool = Field(False, title="End the job in ERROR instead of COMPLETED")
    size: int = Field(
        0, title="Extra bytes of output (a second result, 'blob'), of each part", ge=0, le=MAX_ECHO_SIZE
    )
    steps: int = Field(1, title="Progress steps reported while sleeping", ge=1, le=1000)
    parts: int = Field(1, title="Child jobs to split into (fan-out demo); results are joined", ge=1, le=100)

    @model_validator(mode="after")
    def _bounded_totals(self) -> Self:
        # Each part writes `size` bytes and sleeps `delay` seconds: one request must not buy
        # 100 x 64 MiB of storage or 100 worker-hours.
        if self.parts * self.size > MAX_ECHO_SIZE:
            raise UsageError(
                f"parts x size is {self.parts * self.size} bytes; echo writes at most {MAX_ECHO_SIZE} bytes "
                "in all (lower parts or size)",
                parameter="size",
            )
        if self.parts * self.delay > MAX_ECHO_DELAY:
            raise UsageError(
                f"parts x delay is {self.parts * self.delay:g} s; echo sleeps at most {MAX_ECHO_DELAY} s "
                "in all (lower parts or delay)",
                parameter="delay",
            )
        return self


def split(params: EchoParams, settings: object) -> list[EchoParams]:
    """``parts`` children, each echoing its own line; one part means no fan-out."""
    if params.parts == 1:
        return [params]
    return [
        params.model_copy(update={"parts": 1, "message": f"{params.message} [{i + 1}/{params.parts}]"})
        for i in range(params.parts)
    ]


SERVICE = ServiceSpec(
    name="echo",
    title="Echo",
    description="Writes its message back as a result after an optional delay; can fail on request.",
    params_model=EchoParams,
    run="workers.services.echo.run:run",
    queue="echo",
    split="workers.services.echo.params:split",
    merge="workers.services.echo.run:merge",
)
