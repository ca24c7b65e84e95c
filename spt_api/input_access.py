"""Which stored objects a job may take as an input file: the one place that decides it.

The value of an ``InputFile`` parameter that is not an upload of the request itself must be one of:

- an upload of a job the caller may see (``inputs/<job id>/<file name>``, :meth:`Principal.may_see` on the
  job's owner): a user's own jobs; every job for an admin and for the system. It is copied into the new
  job's own inputs when the job is created (see :mod:`spt_api.job_inputs`), so deleting the first job
  never takes the second one's input away;
- an object under one of ``SPT_API_INPUT_SHARED_PREFIXES``: data the operator publishes to every user;
- a URL (``s3://bucket/key``) under one of ``SPT_API_INPUT_URL_PREFIXES``. The workers read it with their
  own credentials: a URL anywhere else would let a user read whatever those reach (a confused deputy). A
  URL into the API's own store is refused whatever the prefixes say: its objects are named by key, under
  the rules above.

Anything else (another user's upload, any job's results, a key elsewhere in the store) gets the very
answer a missing object gets (:func:`no_input`), so no job's existence leaks through it.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from spt_api.services.inputs import INPUTS_PREFIX
from spt_api.storage.inputs import check_ref_syntax, no_input
from spt_api.uws.errors import UsageError

__all__ = ["check_access", "no_input", "upload_job"]

#: An upload's key: ``inputs/<job id>/<file name>`` (:func:`spt_api.job_inputs.plan_uploads` names them).
_UPLOAD = re.compile(rf"^{INPUTS_PREFIX}/([A-Za-z0-9._-]+)/([A-Za-z0-9._-]+)$")


def upload_job(ref: str) -> tuple[str, str] | None:
    """The job id and file name of an upload's key, or None when ``ref`` is no upload."""
    found = _UPLOAD.match(ref)
    return (found.group(1), found.group(2)) if found else None


def check_access(ref: str, parameter: str, settings: Any, job_id: str) -> None:
    """400 naming ``parameter`` unless job ``job_id`` may read ``ref`` without a copy.

    That is an upload of the job itself, an object under a shared prefix, or a URL under an allowed URL
    prefix. Another job's upload passes only once copied (the caller checks that job is visible first).
    """
    check_ref_syntax(ref, parameter)
    parsed = urlparse(ref)
    if parsed.scheme:
        _check_url(ref, parameter, settings)
        return
    upload = upload_job(ref)
    if upload is not None and upload[0] == job_id:
        return
    if ref.startswith(settings.input_shared_prefix_list):
        return
    raise no_input(ref, parameter, settings)


def _check_url(ref: str, parameter: str, settings: Any) -> None:
    parsed = urlparse(ref)
    url = f"{parsed.scheme.lower()}://{parsed.netloc.lower()}{parsed.path}"
    store = urlparse(settings.effective_storage_url)
    if store.scheme == "s3" and parsed.scheme.lower() == "s3" and parsed.netloc.lower() == store.netloc.lower():
        own = store.path.strip("/")
        if not own or parsed.path.lstrip("/").startswith(own + "/"):
            raise UsageError(
                f"parameter {parameter!r}: {ref[:200]!r} is in the API's own store: name an upload of one of "
                f"your jobs by its key ({INPUTS_PREFIX}/<job id>/<file name>), or upload the file",
                parameter=parameter,
            )
    allowed = settings.input_url_prefix_list
    if not url.startswith(allowed):
        where = f"under {', '.join(allowed)}" if allowed else "none are allowed here (SPT_API_INPUT_URL_PREFIXES)"
        raise UsageError(
            f"parameter {parameter!r}: {ref[:200]!r} is not an allowed input URL ({where}); upload the file",
            parameter=parameter,
        )
