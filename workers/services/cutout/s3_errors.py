"""Job errors for failed S3 requests: fatal when retrying cannot help, else transient."""

from __future__ import annotations

from spt_api.services.errors import FatalJobError, TransientJobError

__all__ = ["is_missing", "s3_error"]


def s3_error(exc: Exception, what: str) -> Exception:
    """A job error for a failed S3 request: fatal when retrying cannot help, else transient."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if is_missing(exc):
            return FatalJobError(f"{what}: not found")
        if code == "NoSuchBucket":
            return FatalJobError(f"{what}: no such bucket")
        if code == "InvalidRange" or status == 416:
            return FatalJobError(f"{what}: shorter than the catalogue says (changed since indexed?)")
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch") or status == 403:
            return FatalJobError(f"{what}: access denied ({code}); check the SPT_API_S3_* credentials")
        return TransientJobError(f"{what}: S3 error {code or status}: {error.get('Message', exc)}")
    return TransientJobError(f"{what}: S3 unreachable: {exc}")


def is_missing(exc: Exception) -> bool:
    """Whether ``exc`` says the bucket has no such object."""
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("NoSuchKey", "NotFound", "404") or status == 404
