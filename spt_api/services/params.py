"""The base of every service's parameter model, and UWS/JSON parameters turned into it."""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from spt_api.uws.errors import UsageError

__all__ = ["ParamsModel", "params_from_json", "usage_error_from_validation"]


def _is_multi(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_multi(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    return False


class ParamsModel(BaseModel):
    """Base of every service's parameter model.

    ``from_uws`` turns ordered UWS ``(name, value)`` pairs into the model: names
    are case-insensitive (DALI §3.1), list fields collect every value in order,
    and a single-valued field given twice is an error (DALI §3.2).
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    #: UWS/DALI control parameters accepted at job creation, handled by the job service.
    CONTROL: ClassVar[frozenset[str]] = frozenset(
        {"phase", "runid", "executionduration", "destruction", "request", "responseformat"}
    )

    @classmethod
    def field_names(cls) -> dict[str, str]:
        """Lower-cased accepted names (field names and aliases) → field name."""
        names: dict[str, str] = {}
        for name, info in cls.model_fields.items():
            names[name.lower()] = name
            if info.alias:
                names[info.alias.lower()] = name
        return names

    @classmethod
    def from_uws(cls, pairs: Iterable[tuple[str, str]]) -> Self:
        """Validate UWS parameters.

        Raises
        ------
        UsageError
            Naming the unknown, repeated or invalid parameter.
        """
        names = cls.field_names()
        values: dict[str, Any] = {}
        for raw_name, value in pairs:
            lname = raw_name.lower()
            if lname in cls.CONTROL:
                continue
            field = names.get(lname)
            if field is None:
                raise UsageError(f"unknown parameter {raw_name!r}", parameter=raw_name)
            if _is_multi(cls.model_fields[field].annotation):
                values.setdefault(field, []).append(value)
            elif field in values:
                raise UsageError(f"parameter {raw_name!r} accepts a single value", parameter=raw_name)
            else:
                values[field] = value
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise usage_error_from_validation(exc) from exc

    def to_message(self) -> dict[str, Any]:
        """The JSON form sent to workers (no pickle: survives version skew)."""
        return self.model_dump(mode="json")


def usage_error_from_validation(exc: ValidationError) -> UsageError:
    first = exc.errors()[0]
    loc = ".".join(str(part) for part in first["loc"] if not isinstance(part, int)) or "parameters"
    value = first.get("input")
    shown = f" (got {value!r})" if value is not None and not isinstance(value, dict | list) else ""
    return UsageError(f"invalid parameter {loc!r}: {first['msg']}{shown}", parameter=loc)


def params_from_json(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Turn a JSON object of parameters into ordered UWS pairs (lists become repeated values)."""
    pairs: list[tuple[str, str]] = []
    for name, value in body.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, bool):
                pairs.append((name, "true" if item else "false"))
            elif item is None:
                continue
            elif isinstance(item, dict | list):
                raise UsageError(f"parameter {name!r} must be a scalar or a list of scalars", parameter=name)
            else:
                pairs.append((name, str(item)))
    return pairs
