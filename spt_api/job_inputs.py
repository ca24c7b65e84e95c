"""A job's input files at submission: uploads stored byte for byte, references checked, the service's check.

Uploaded parts of a service's ``InputFile`` fields are stored under ``inputs/<job id>/<file name>``
before the job exists (so the parameter's value is that key), and removed with the job
(:func:`spt_api.maintenance.destroy`). Any failure here (a missing reference, the service's
``check_inputs`` refusing the header) is a 400 naming the parameter, and removes what was stored.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from spt_api.services import ServiceSpec, input_fields
from spt_api.services.inputs import INPUTS_PREFIX
from spt_api.storage import ObjectStore, safe_name
from spt_api.storage.inputs import StoredInputs
from spt_api.uws.errors import UsageError

__all__ = ["PlannedUpload", "Upload", "inputs_prefix", "plan_uploads", "prepare_inputs", "upload_fingerprint"]


@dataclass(frozen=True)
class Upload:
    """One multipart file part of an ``InputFile`` parameter, as received."""

    name: str
    filename: str
    body: bytes
    content_type: str | None = None


@dataclass(frozen=True)
class PlannedUpload:
    key: str
    upload: Upload


def inputs_prefix(job_id: str) -> str:
    """Where the uploads of job ``job_id`` are stored."""
    return f"{INPUTS_PREFIX}/{safe_name(job_id)}"


def plan_uploads(
    spec: ServiceSpec,
    job_id: str,
    pairs: Sequence[tuple[str, str]],
    uploads: Sequence[Upload],
    *,
    unique: bool = False,
) -> tuple[list[tuple[str, str]], list[PlannedUpload]]:
    """``pairs`` with each upload's parameter set to its future key, and where each upload goes;
    ``unique``: a random tag in each name (an update must not overwrite the job's current input)."""
    fields = input_fields(spec.params_model)
    result = list(pairs)
    planned: list[PlannedUpload] = []
    used: set[str] = set()
    for upload in uploads:
        if upload.name.lower() not in fields:  # the handler keeps only these; a guard for other callers
            raise UsageError(f"parameter {upload.name!r} takes no file upload", parameter=upload.name)
        name = safe_name(upload.filename or upload.name)
        if unique:
            name = f"{secrets.token_hex(4)}-{name}"
        elif name in used:
            name = f"{len(used)}-{name}"
        used.add(name)
        key = f"{inputs_prefix(job_id)}/{name}"
        planned.append(PlannedUpload(key, upload))
        result.append((upload.name, key))
    return result, planned


def upload_fingerprint(uploads: Sequence[Upload]) -> list[tuple[str, str]]:
    """Stand-ins for the uploads in an idempotency fingerprint: their content, not their (per-job) key."""
    return [(u.name, "sha256:" + hashlib.sha256(u.body).hexdigest()) for u in uploads]


def prepare_inputs(
    spec: ServiceSpec,
    params: Any,
    pairs: Sequence[tuple[str, str]],
    planned: Sequence[PlannedUpload],
    objects: ObjectStore,
    settings: Any,
    job_id: str,
    workers: Callable[[], list[Any]] | None = None,
) -> None:
    """Store the uploads, check the other references exist, run the service's ``check_inputs`` (blocking).

    Raises
    ------
    UsageError
        Naming the parameter whose input is missing or refused; whatever was stored is removed.
    """
    fields = input_fields(spec.params_model)
    check = spec.load_check_inputs()
    if not fields and check is None:
        return
    reader = StoredInputs(objects, settings, spec.settings_for(settings), workers)
    uploaded = {p.key for p in planned}
    try:
        for item in planned:
            objects.put_bytes(item.key, item.upload.body, item.upload.content_type)
        for name, value in pairs:
            if name.lower() in fields and value not in uploaded:
                reader.check(value, name)
        if check is not None:
            check(params, reader)
    except BaseException:
        for item in planned:
            objects.delete_prefix(item.key)
        raise
