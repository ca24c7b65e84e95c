"""What a query array must be (light: the API's check and the workers share it)."""

from __future__ import annotations

from spt_api.services import UsageError

__all__ = ["check_queries"]


def check_queries(dtype: str, shape: tuple[int, ...], dimension: int) -> None:
    """Queries must be float32 [q, d] with the index's d: a UsageError naming ``queries`` otherwise."""
    if dtype not in ("<f4", "float32"):
        raise UsageError(f"queries: expected dtype float32 (<f4), got {dtype}", parameter="queries")
    if len(shape) != 2 or shape[1] != dimension:
        raise UsageError(
            f"queries: expected shape [q, {dimension}] (the index's dimension), got {list(shape)}",
            parameter="queries",
        )
    if shape[0] == 0:
        raise UsageError("queries: no query vectors (shape [0, d])", parameter="queries")
