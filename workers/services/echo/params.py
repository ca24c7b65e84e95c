"""Parameters of the ``echo`` service (light: imported by the API)."""

from __future__ import annotations

from pydantic import Field

from spt_api.services import ParamsModel, ServiceSpec

__all__ = ["SERVICE", "EchoParams"]

#: Largest output an echo job may write; keeps a demo from filling the disk.
MAX_ECHO_SIZE = 64 * 1024 * 1024


class EchoParams(ParamsModel):
    message: str = Field("hello", title="Text written to the result", max_length=10_000)
    delay: float = Field(0.0, title="Seconds the job sleeps before finishing", ge=0, le=3600)
    fail: bool = Field(False, title="End the job in ERROR instead of COMPLETED")
    size: int = Field(0, title="Extra bytes of output (a second result, 'blob')", ge=0, le=MAX_ECHO_SIZE)
    steps: int = Field(1, title="Progress steps reported while sleeping", ge=1, le=1000)
    parts: int = Field(1, title="Child jobs to split into (fan-out demo); results are joined", ge=1, le=100)


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
