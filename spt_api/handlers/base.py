"""``BaseHandler``: body limits, parameter parsing, content negotiation and the one error renderer."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable
from typing import Any
from urllib.parse import parse_qsl

import tornado.web
from pydantic import BaseModel
from tornado import httputil

from spt_api.config import Settings
from spt_api.job_service import JobService
from spt_api.services import params_from_json
from spt_api.uws import documents
from spt_api.uws.documents import XML_ILLEGAL
from spt_api.uws.errors import (
    JobNotSentError,
    NotFoundError,
    PayloadTooLargeError,
    RequestError,
    UsageError,
)
from spt_api.uws.json_documents import ErrorDocument
from spt_api.uws.principal import ANONYMOUS, Principal

__all__ = ["BaseHandler", "NotFoundHandler"]

log = logging.getLogger(__name__)

#: Characters XML 1.0 cannot contain (C0 controls but tab, LF, CR; lone surrogates; U+FFFE/U+FFFF).

JSON_TYPES = ("application/json",)
XML_TYPES = ("application/xml", "text/xml", "application/x-votable+xml")


def prefers_json(accept: str) -> bool:
    """True when the client ranks JSON above XML (ties go to XML: UWS §2.2.2 says prefer XML)."""
    best_json = best_xml = -1.0
    for position, item in enumerate(accept.split(",")):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        quality = 1.0
        for param in parts[1:]:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        # Earlier entries win ties, as browsers and curl list their favourite first.
        score = quality - position * 1e-6
        if media in JSON_TYPES:
            best_json = max(best_json, score)
        elif media in XML_TYPES:
            best_xml = max(best_xml, score)
    return best_json > best_xml and best_json > 0


def _answered(*args: Any, **kwargs: Any) -> None:
    """The HTTP method of a request already answered from ``data_received``."""


@tornado.web.stream_request_body
class BaseHandler(tornado.web.RequestHandler):
    """Every API handler; the request body is streamed so its size limit answers 413, not a dropped socket."""

    jobs: JobService
    settings_obj: Settings

    def initialize(self, jobs: JobService, settings: Settings) -> None:
        self.jobs = jobs
        self.settings_obj = settings
        self._body_chunks: list[bytes] = []
        self._body_size = 0
        self._pairs: list[tuple[str, str]] | None = None

    def prepare(self) -> Awaitable[None] | None:
        length = self.request.headers.get("Content-Length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                raise UsageError(f"invalid Content-Length {length!r}") from None
            if size > self.settings_obj.max_body_size:
                raise PayloadTooLargeError(
                    f"request body of {size} bytes exceeds the limit of {self.settings_obj.max_body_size}"
                )
        return None

    def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return  # already answered 413; the rest of the body is dropped
        self._body_size += len(chunk)
        if self._body_size > self.settings_obj.max_body_size:
            # A body without Content-Length (chunked) is only found too large here. Raising would make
            # Tornado log an uncaught error and reset the connection with no answer; answer 413 instead
            # (the connection then closes, as the body is unread).
            error = PayloadTooLargeError(
                f"request body exceeds the limit of {self.settings_obj.max_body_size} bytes"
            )
            self._body_chunks.clear()
            self.send_error(error.status, exc_info=(type(error), error, None))
            # If the rest of the body still arrives before the connection closes, Tornado would go on
            # to call the HTTP method: make it a no-op for this request.
            setattr(self, self.request.method.lower() if self.request.method else "get", _answered)
            return
        self._body_chunks.append(chunk)

    # -- parameters ----------------------------------------------------------------------------------

    def params(self) -> list[tuple[str, str]]:
        """Query and body parameters in order: form, multipart (files as text) or a JSON object."""
        if self._pairs is not None:
            return self._pairs
        pairs = [(k, v) for k, v in parse_qsl(self.request.query, keep_blank_values=True)]
        body = b"".join(self._body_chunks)
        self.request.body = body
        if body:
            content_type = self.request.headers.get("Content-Type", "")
            media = content_type.split(";")[0].strip().lower()
            if media == "application/json":
                try:
                    data = json.loads(body)
                except ValueError as exc:
                    raise UsageError(f"request body is not valid JSON: {exc}") from None
                if not isinstance(data, dict):
                    raise UsageError("a JSON request body must be an object of parameters")
                pairs.extend(params_from_json(data))
            elif media == "application/x-www-form-urlencoded" or not media:
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    raise UsageError("form body is not UTF-8") from None
                pairs.extend(parse_qsl(text, keep_blank_values=True))
            elif media == "multipart/form-data":
                arguments: dict[str, list[bytes]] = {}
                files: dict[str, list[httputil.HTTPFile]] = {}
                try:
                    httputil.parse_body_arguments(content_type, body, arguments, files, self.request.headers)
                except httputil.HTTPInputError as exc:  # e.g. no boundary: the client's mistake, not a 500
                    raise UsageError(f"could not parse the multipart/form-data body: {exc}") from None
                if not arguments and not files:
                    raise UsageError("could not parse the multipart/form-data body")
                for name, values in arguments.items():
                    pairs.extend((name, self._decode(name, v)) for v in values)
                for name, uploads in files.items():
                    pairs.extend((name, self._decode(name, f.body)) for f in uploads)
            else:
                raise UsageError(
                    f"unsupported Content-Type {media!r}: send application/x-www-form-urlencoded, "
                    "multipart/form-data or application/json"
                )
        for name, value in pairs:
            # Parameters are echoed in the XML documents; XML 1.0 cannot carry these characters.
            bad = XML_ILLEGAL.search(name) or XML_ILLEGAL.search(value)
            if bad:
                raise UsageError(
                    f"parameter {name.encode('unicode_escape').decode()!r} contains the character "
                    f"U+{ord(bad.group()):04X}, which is not allowed",
                    parameter=name,
                )
        self._pairs = pairs
        return pairs

    @staticmethod
    def _decode(name: str, value: bytes) -> str:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"parameter {name!r} is not UTF-8 text", parameter=name) from None

    def param(self, name: str) -> str | None:
        from spt_api.uws.requests import first_value

        return first_value(self.params(), name)

    def param_values(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.params() if k.lower() == lname]

    # -- responses -----------------------------------------------------------------------------------

    @property
    def wants_json(self) -> bool:
        return prefers_json(self.request.headers.get("Accept", ""))

    def principal(self) -> Principal:
        """Who is asking: the anonymous user while auth is off (its jobs' ownerId is xsi:nil, UWS §2.1.8)."""
        user = self.current_user
        return user if isinstance(user, Principal) else ANONYMOUS

    def absolute(self, path: str) -> str:
        return f"{self.request.protocol}://{self.request.host}{path}"

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        # A typed document (spt_api.uws.json_documents) renders itself, as its OpenAPI schema says.
        self.finish(data.model_dump_json() if isinstance(data, BaseModel) else json.dumps(data))

    def write_xml(self, data: bytes) -> None:
        self.set_header("Content-Type", "application/xml; charset=UTF-8")
        self.finish(data)

    def write_text(self, text: str) -> None:
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(text)

    def see_other(self, url: str) -> None:
        self.set_status(303)
        self.set_header("Location", url)
        self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """One error renderer: JSON or DALI text/plain, by Accept; never a stack trace."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, RequestError):
            error, message, parameter = exc.error, exc.message, exc.parameter
        elif isinstance(exc, tornado.web.HTTPError):
            error = {404: "not_found", 405: "method_not_allowed"}.get(status_code, "http_error")
            message = exc.log_message or self._reason or "error"
            if status_code == 405:
                message = f"method {self.request.method} is not allowed on {self.request.path}"
            parameter = None
        else:
            error, message, parameter = "internal_error", "internal server error", None
        if self._body_unread():
            # Tornado closes the connection after answering a request whose body it has not read
            # (an error in prepare, such as 413); say so, or a keep-alive client reuses the closed
            # connection and gets a reset instead of its next response.
            self.set_header("Connection", "close")
        job_href = None
        if isinstance(exc, JobNotSentError):
            # The job exists (QUEUED, sent later): name it, so the client follows it instead of resubmitting.
            job_href = self.absolute(f"{self.settings_obj.base_path}/{exc.service}/jobs/{exc.job_id}")
            self.set_header("Location", job_href)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            self.set_header("Retry-After", str(retry_after))
        elif status_code == 503:
            self.set_header("Retry-After", "5")
        if self.wants_json:
            self.set_header("Content-Type", "application/json")
            document = ErrorDocument(
                error=error, message=message, status=status_code, parameter=parameter or None, href=job_href
            )
            self.finish(document.model_dump_json(exclude_none=True))
        elif "votable" in self.request.headers.get("Accept", "").lower():
            # DALI §4.2: a VOTable whose QUERY_STATUS INFO says ERROR, for clients that read VOTables.
            self.set_header("Content-Type", "application/x-votable+xml; charset=UTF-8")
            self.finish(documents.votable_error(message))
        else:
            # DALI §4.2: a text/plain error document starting with the required text.
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            self.finish(f"{'UsageError' if status_code < 500 else 'Error'}: {message}\n")

    def _body_unread(self) -> bool:
        future = getattr(self.request, "_body_future", None)
        return future is not None and not future.done()

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, RequestError):
            return  # the client's mistake, answered with a 4xx; not worth a log line
        super().log_exception(typ, value, tb)

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, RequestError):
            status_code = exc.status
        super().send_error(status_code, **kwargs)


class NotFoundHandler(BaseHandler):
    """Every unknown path: a 404 error document instead of Tornado's HTML page.

    The 404 is raised by the method, not in ``prepare``: by then the (size-checked) body has been
    read, so the connection stays usable for the client's next request.
    """

    def _not_found(self) -> None:
        raise NotFoundError(f"no resource at {self.request.path}")

    def get(self, *args: str, **kwargs: str) -> None:
        self._not_found()

    def head(self, *args: str, **kwargs: str) -> None:
        self._not_found()

    def post(self, *args: str, **kwargs: str) -> None:
        self._not_found()

    def put(self, *args: str, **kwargs: str) -> None:
        self._not_found()

    def patch(self, *args: str, **kwargs: str) -> None:
        self._not_found()

    def delete(self, *args: str, **kwargs: str) -> None:
        self._not_found()

    def options(self, *args: str, **kwargs: str) -> None:
        self._not_found()
