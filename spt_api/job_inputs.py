"""A job's input files at submission: uploads stored byte for byte, references checked, the service's check.

Uploaded parts of a service's ``InputFile`` fields are stored under ``inputs/<job id>/<file name>``
before the job exists (so the parameter's value is that key), and removed with the job
(:func:`spt_api.maintenance.destroy`). An upload of another job named by its key is copied there too
(a hard link on local storage, a server-side copy on S3), once the job service has checked the caller
may see that job: each job owns its inputs, and deleting one never breaks another. Which other
references a job may take is :mod:`spt_api.input_access`'s to decide. Any failure here (a missing or
refused reference, the service's ``check_inputs`` refusing the header) is a 400 naming the parameter,
and removes what was stored.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from spt_api.input_access import check_access, no_input, upload_job
from spt_api.services import ServiceSpec, input_fields
from spt_api.services.inputs import INPUTS_PREFIX
from spt_api.storage import ObjectStore, safe_name
from spt_api.storage.inputs import StoredInputs
from spt_api.uws.errors import UsageError

__all__ = [
    "PlannedUpload",
    "Upload",
    "copy_sources",
    "inputs_prefix",
    "plan_uploads",
    "prepare_inputs",
    "refused_copy",
    "upload_fingerprint",
]


@dataclass(frozen=True)
class Upload:
    """One multipart file part of an ``InputFile`` parameter, as received."""

    name: str
    filename: str
    body: bytes
    content_type: str | None = None


@dataclass(frozen=True)
class PlannedUpload:
    """An input the new job will own at ``key``: an upload's bytes, or a copy of another job's upload."""

    key: str
    upload: Upload | None = None
    #: Another job's upload (``inputs/<job id>/<name>``) the request named, copied to ``key``.
    source: str | None = None
    #: The parameter that named ``source`` (its errors name it).
    parameter: str = ""


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
    ``unique``: a random tag in each name (an update must not overwrite the job's current input).

    A parameter naming another job's upload (``inputs/<other id>/<name>``) is planned as a copy into
    this job's inputs, its value set to the copy's key: see :func:`copy_sources` for who may."""
    fields = input_fields(spec.params_model)
    planned: list[PlannedUpload] = []
    used: set[str] = set()

    def new_key(name: str) -> str:
        if unique:
            name = f"{secrets.token_hex(4)}-{name}"
        elif name in used:
            name = f"{len(used)}-{name}"
        used.add(name)
        return f"{inputs_prefix(job_id)}/{name}"

    result: list[tuple[str, str]] = []
    for name, value in pairs:
        upload = upload_job(value) if name.lower() in fields else None
        if upload is not None and upload[0] != safe_name(job_id):
            key = new_key(upload[1])
            planned.append(PlannedUpload(key, source=value, parameter=name))
            value = key
        result.append((name, value))
    for item in uploads:
        if item.name.lower() not in fields:  # the handler keeps only these; a guard for other callers
            raise UsageError(f"parameter {item.name!r} takes no file upload", parameter=item.name)
        key = new_key(safe_name(item.filename or item.name))
        planned.append(PlannedUpload(key, item))
        result.append((item.name, key))
    return result, planned


def copy_sources(planned: Sequence[PlannedUpload]) -> list[tuple[str, PlannedUpload]]:
    """The jobs whose uploads ``planned`` copies, each with its copy: the job service copies one only
    when the caller may see that job (:meth:`~spt_api.uws.principal.Principal.may_see`), and answers
    :func:`refused_copy` otherwise."""
    found = []
    for item in planned:
        upload = upload_job(item.source) if item.source is not None else None
        if upload is not None:
            found.append((upload[0], item))
    return found


def refused_copy(item: PlannedUpload, settings: Any) -> UsageError:
    """The answer to another user's upload: a missing object's, so the other job's existence stays unknown."""
    return no_input(item.source or "", item.parameter, settings)


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
            if item.upload is not None:
                objects.put_bytes(item.key, item.upload.body, item.upload.content_type)
                reader.remember(item.key, item.upload.body)  # the service's check reads its header from here
            elif item.source is not None:
                try:
                    objects.copy(item.source, item.key)
                except (FileNotFoundError, ValueError):
                    raise refused_copy(item, settings) from None
        refs = [(name, value) for name, value in pairs if name.lower() in fields and value not in uploaded]
        for name, value in refs:
            check_access(value, name, settings, safe_name(job_id))  # before anything of it is read
        if check is not None and refs:
            # The inputs' reads and the service's check (a search index's listing) wait at the same time; a
            # missing input is still the error said, whatever the service's check thought of it.
            for name, value in refs:
                reader.begin_check(value, name)
            try:
                check(params, reader)
            except Exception:
                for name, value in refs:
                    reader.check(value, name)
                raise
            for name, value in refs:
                reader.check(value, name)
        else:
            for name, value in refs:
                reader.check(value, name)
            if check is not None:
                check(params, reader)
    except BaseException:
        for item in planned:
            objects.delete_prefix(item.key)
        raise
