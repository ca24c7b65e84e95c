"""Where the worker gets an input's bytes: the one place that knows how inputs arrive.

Today an input is its own text (a form field or an uploaded text file) or the name of a stored object
under ``inputs/``; when the SDK's binary uploads (``InputFile``) arrive, only this module changes.
"""

from __future__ import annotations

from typing import Any

from spt_api.services import UsageError
from workers.services.evaluation.checks import is_reference, reference_key

__all__ = ["read_input"]


def read_input(ctx: Any, value: str, parameter: str) -> bytes:
    """The bytes of the input ``value`` of ``parameter``: its text, or the stored object it names.

    Raises
    ------
    UsageError
        When ``value`` names no stored input.
    """
    if not is_reference(value):
        return value.encode()
    from spt_api.storage import create_object_store

    key = reference_key(value, parameter)
    store = create_object_store(ctx.settings)
    if not store.exists(key):
        raise UsageError(f"{parameter}: there is no stored input {value!r}", parameter=parameter)
    return b"".join(store.read_chunks(key))
