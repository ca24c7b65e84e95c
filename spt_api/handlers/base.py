"""``BaseHandler``: body limits, parameter parsing, content negotiation and the one error renderer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterator
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote

import tornado.web
from markupsafe import Markup
from pydantic import BaseModel
from tornado import httputil

from spt_api.auth import Authenticator, MissingCredentials
from spt_api.config import Settings, origin_name
from spt_api.handlers.auth import XSRF_FIELD, authenticate
from spt_api.job_inputs import Upload
from spt_api.job_service import JobService
from spt_api.pages import content_security_policy, render_page
from spt_api.services import params_from_json
from spt_api.uws import documents
from spt_api.uws.documents import XML_ILLEGAL
from spt_api.uws.errors import (
    HeadersTooLargeError,
    JobNotSentError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RequestError,
    URITooLongError,
    UsageError,
)
from spt_api.uws.json_documents import ErrorDocument
from spt_api.uws.principal import ANONYMOUS, Principal

__all__ = ["BaseHandler", "Lifecycle", "NotFoundHandler"]

log = logging.getLogger(__name__)

#: Bodies above this size are parsed in a thread: parsing costs about a second per 10 MB, all of it
#: time in which the event loop (every GET, WAIT and /health) would otherwise wait.
LARGE_BODY_BYTES = 64 * 1024

#: Characters XML 1.0 cannot contain (C0 controls but tab, LF, CR; lone surrogates; U+FFFE/U+FFFF).

JSON_TYPES = ("application/json",)
XML_TYPES = ("application/xml", "text/xml", "application/x-votable+xml")


HTML_TYPES = ("text/html", "application/xhtml+xml")


def _best_scores(accept: str) -> tuple[float, float, float]:
    """The best score of JSON, XML and HTML in an Accept header: quality, earlier entries winning ties
    (browsers and curl list their favourite first); -1 when not named. Wildcards name none of them."""
    best_json = best_xml = best_html = -1.0
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
        score = quality - position * 1e-6
        if media in JSON_TYPES:
            best_json = max(best_json, score)
        elif media in XML_TYPES:
            best_xml = max(best_xml, score)
        elif media in HTML_TYPES:
            best_html = max(best_html, score)
    return best_json, best_xml, best_html


def prefers_json(accept: str) -> bool:
    """True when the client ranks JSON above XML (ties go to XML: UWS §2.2.2 says prefer XML)."""
    best_json, best_xml, _ = _best_scores(accept)
    return best_json > best_xml and best_json > 0


def prefers_html(accept: str) -> bool:
    """True when the client names HTML and ranks it above JSON and XML: a browser. API clients (JSON,
    XML) and curl's ``*/*`` keep getting the documents."""
    best_json, best_xml, best_html = _best_scores(accept)
    return best_html > 0 and best_html > best_json and best_html > best_xml


T = TypeVar("T")


class _TimedSteps(Awaitable[T]):
    """Awaits ``coro`` one step at a time, reporting how long each synchronous step held the event loop.

    A coroutine only gives the loop back at an ``await`` that suspends; whatever runs between two
    of them (a step) blocks every other request. asyncio's debug mode reports such steps too, but
    names the Task, not the handler, and slows everything down.
    """

    def __init__(self, coro: Coroutine[Any, Any, T], report: Callable[[float], None]) -> None:
        self._coro = coro
        self._report = report

    def __await__(self) -> Generator[Any, Any, T]:
        coro = self._coro
        value: Any = None
        error: BaseException | None = None
        while True:
            start = time.perf_counter()
            try:
                yielded = coro.throw(error) if error is not None else coro.send(value)
            except StopIteration as stop:
                self._report(time.perf_counter() - start)
                result: T = stop.value
                return result
            except BaseException:
                self._report(time.perf_counter() - start)
                raise
            self._report(time.perf_counter() - start)
            try:
                value, error = (yield yielded), None
            except BaseException as exc:  # cancellation, or an exception thrown in: pass it on
                value, error = None, exc


async def _timed(coro: Coroutine[Any, Any, T], report: Callable[[float], None]) -> T:
    return await _TimedSteps(coro, report)


def host_name(host: str) -> str:
    """The name in a Host header, without its port: ``[::1]:8080`` is ``::1``, ``Example.org:80`` is ``example.org``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


#: Result types a browser may show in place: images it renders without running anything.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def content_disposition(filename: str, mime_type: str) -> str:
    """``attachment`` (a download) for anything a browser could render as a page; a result's content and
    name are the user's, so neither may become HTML or script in the API's origin."""
    kind = "inline" if mime_type.split(";")[0].strip().lower() in INLINE_TYPES else "attachment"
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    return f'{kind}; filename="{ascii_name}"; filename*=UTF-8\'\'{quote(filename, safe="")}'


def text_charset(mime_type: str) -> str:
    """``mime_type`` with ``charset=utf-8`` when it is text and names no charset."""
    if mime_type.lower().startswith("text/") and "charset=" not in mime_type.lower():
        return f"{mime_type}; charset=utf-8"
    return mime_type


def _parse_form(text: str, where: str) -> list[tuple[str, str]]:
    """``name=value&...`` pairs; a percent-encoded byte sequence that is not UTF-8 is refused.

    ``parse_qsl`` would quietly turn ``%ff%fe`` into U+FFFD U+FFFD, storing something the client
    never sent, while the same bytes sent raw are refused.
    """
    try:
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise UsageError(f"the {where} holds a percent-encoded value that is not UTF-8 text") from None


class Lifecycle:
    """The server's stop, as long requests see it: a WAIT ends early when the server stops.

    ``Backends.stop`` calls :meth:`drain` first: each WAIT in flight answers with the job as it is now
    (UWS §2.2.1.2 lets the server return early) while the job store is still there, instead of
    failing with a 500 once it has closed.
    """

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self.active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        #: The works of :meth:`unless_stopping` in flight, cancelled by :meth:`drain`.
        self._works: set[asyncio.Future[Any]] = set()

    @contextlib.contextmanager
    def long_request(self) -> Iterator[None]:
        self.active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.active -= 1
            if self.active == 0:
                self._idle.set()

    async def drain(self, timeout: float) -> None:
        """Tell long requests to answer now, and give them ``timeout`` seconds to do so."""
        self.stopping.set()
        for work in list(self._works):
            work.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    async def unless_stopping(self, work: Awaitable[T]) -> tuple[bool, T | None]:
        """``(True, result)`` of ``work``, or ``(False, None)`` if the server stops first (``work`` cancelled).

        One task per call, which :meth:`drain` cancels: no second task watching ``stopping`` per WAIT."""
        if self.stopping.is_set():
            if asyncio.iscoroutine(work):
                work.close()
            return False, None
        task = asyncio.ensure_future(work)
        self._works.add(task)
        try:
            return True, await task
        except asyncio.CancelledError:
            # Cancelled by drain (the server stops): answer now; cancelled from outside: pass it on.
            if self.stopping.is_set() and task.cancelled():
                current = asyncio.current_task()
                if current is None or not current.cancelling():
                    return False, None
            raise
        finally:
            self._works.discard(task)


def _answered(*args: Any, **kwargs: Any) -> None:
    """The HTTP method of a request already answered from ``data_received``."""


@tornado.web.stream_request_body
class BaseHandler(tornado.web.RequestHandler):
    """Every API handler; the request body is streamed so its size limit answers 413, not a dropped socket."""

    jobs: JobService
    settings_obj: Settings
    #: Whether the handler serves only an authenticated principal while authentication is on (the job API,
    #: the pages); False for what anyone may read (the index, health, metrics, the login itself).
    requires_auth = True
    #: Who is asking, resolved once by :meth:`prepare` (bearer token, else session cookie); None: nobody yet.
    current_principal: Principal | None = None
    #: How the principal was found: ``"bearer"``, ``"cookie"`` or None (auth off, or a public handler).
    auth_via: str | None = None

    def initialize(self, jobs: JobService, settings: Settings, lifecycle: Lifecycle | None = None) -> None:
        self.jobs = jobs
        self.settings_obj = settings
        self.lifecycle = lifecycle if lifecycle is not None else Lifecycle()
        self._body_chunks: list[bytes] = []
        self._body_size = 0
        self._pairs: list[tuple[str, str]] | None = None
        #: File parts of the parameters named in ``read_params(binary=...)``, kept byte for byte.
        self.uploads: list[Upload] = []
        self._binary: frozenset[str] = frozenset()

    def _execute(self, transforms: Any, *args: bytes, **kwargs: bytes) -> Coroutine[Any, Any, None]:
        # Tornado's request coroutine (prepare, the method, finish), its synchronous steps timed.
        return _timed(super()._execute(transforms, *args, **kwargs), self._step_took)

    def _step_took(self, seconds: float) -> None:
        limit = self.application.settings.get("slow_callback_seconds", 0.1)
        if seconds > limit:
            log.warning(
                "%s held the event loop for %.0f ms at once (%s %s); blocking work belongs in a thread",
                type(self).__name__,
                seconds * 1000,
                self.request.method,
                self.request.path,
            )

    #: Whether the Host header must be one of ``SPT_API_ALLOWED_HOSTS``: it is reflected into links and
    #: ``Location``. Probes and scrapers (health, metrics) call pods by address and reflect nothing.
    checks_host = True

    def set_default_headers(self) -> None:
        # Every answer is what its Content-Type says: no browser sniffs a result into HTML.
        self.set_header("X-Content-Type-Options", "nosniff")
        settings: Settings | None = self.application.settings.get("spt_settings")
        origin = self.request.headers.get("Origin")
        if settings is not None and settings.trusts_origin(origin):
            self.set_header("Access-Control-Allow-Origin", origin)
            self.set_header("Access-Control-Expose-Headers", "Location, Retry-After")
        if settings is not None and settings.cors_origin_names:
            self.set_header("Vary", "Origin")

    async def prepare(self) -> None:
        self._check_request()
        await authenticate(self)

    def _check_request(self) -> None:
        limit = self.settings_obj.max_header_size
        if len(self.request.uri or "") > limit:
            raise URITooLongError(f"the request URL is longer than {limit} bytes: send parameters in a POST body")
        if sum(len(k) + len(v) + 4 for k, v in self.request.headers.get_all()) > limit:
            raise HeadersTooLargeError(f"the request's header fields are larger than {limit} bytes")
        if self.checks_host:
            self._check_host()
        self._check_origin()
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

    def _check_host(self) -> None:
        allowed = self.settings_obj.allowed_host_names
        if "*" in allowed:
            return
        name = host_name(self.request.host)
        if name in allowed or any(a.startswith(".") and (name.endswith(a) or name == a[1:]) for a in allowed):
            return
        # Not reflected into this answer's links: a forged Host must not make the API point elsewhere.
        self.request.host = next(iter(sorted(a for a in allowed if not a.startswith("."))), "localhost")
        raise UsageError(
            f"this server does not answer to the host name {name[:100]!r} (see SPT_API_ALLOWED_HOSTS)",
            parameter="Host",
        )

    def _check_origin(self) -> None:
        """A browser's cross-site form POST (or DELETE) from an origin not trusted is refused (CSRF)."""
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return
        origin = self.request.headers.get("Origin")
        if origin is None:
            return  # not a browser (curl, pyvo): nothing to protect against
        if self.settings_obj.trusts_origin(origin):
            return
        scheme, _, netloc = origin_name(origin).partition("://")
        if scheme in ("http", "https") and netloc == self.request.host.lower():
            return  # the server's own pages
        raise PermissionDeniedError(
            f"cross-site {self.request.method} from origin {origin[:200]!r} refused (see SPT_API_CORS_ORIGINS)"
        )

    def options(self, *args: str, **kwargs: str) -> None:
        """A CORS preflight from an allowed origin; any other OPTIONS request is not allowed (405)."""
        if (
            not self.settings_obj.trusts_origin(self.request.headers.get("Origin"))
            or "Access-Control-Request-Method" not in self.request.headers
        ):
            raise tornado.web.HTTPError(405)
        self.set_status(204)
        self.set_header("Access-Control-Allow-Methods", "GET, POST, DELETE")
        self.set_header("Access-Control-Allow-Headers", "Accept, Content-Type, Authorization, Idempotency-Key")
        self.set_header("Access-Control-Max-Age", "600")
        self.finish()

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

    async def read_params(self, binary: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
        """:meth:`params`, parsed in a thread when the body is large: a 10 MB form must not hold the loop.

        ``binary``: lower-cased names of file parameters (a service's ``InputFile`` fields) whose
        multipart file parts are kept as bytes in :attr:`uploads` instead of decoded as text."""
        if self._pairs is None:
            self._binary = binary
        if self._pairs is None and sum(len(chunk) for chunk in self._body_chunks) > LARGE_BODY_BYTES:
            return await asyncio.get_running_loop().run_in_executor(None, self.params)
        return self.params()

    def params(self) -> list[tuple[str, str]]:
        """Query and body parameters in order: form, multipart (files as text, but those named in
        ``read_params(binary=...)``, kept in :attr:`uploads`) or a JSON object."""
        if self._pairs is not None:
            return self._pairs
        pairs = _parse_form(self.request.query, "query string")
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
                except RecursionError:
                    raise UsageError("request body is JSON nested too deeply") from None
                if not isinstance(data, dict):
                    raise UsageError("a JSON request body must be an object of parameters")
                pairs.extend(params_from_json(data))
            elif media == "application/x-www-form-urlencoded" or not media:
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    raise UsageError("form body is not UTF-8") from None
                pairs.extend(_parse_form(text, "form body"))
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
                for name, parts in files.items():
                    if name.lower() in self._binary:
                        self.uploads.extend(
                            Upload(name, f.filename, f.body, f.content_type or None) for f in parts
                        )
                    else:
                        pairs.extend((name, self._decode(name, f.body)) for f in parts)
            else:
                raise UsageError(
                    f"unsupported Content-Type {media!r}: send application/x-www-form-urlencoded, "
                    "multipart/form-data or application/json"
                )
        if any(name == XSRF_FIELD for name, _ in pairs):
            # Tornado's XSRF form field is the browser's proof of origin (checked by spt_api.handlers.auth),
            # not a job parameter.
            pairs = [(name, value) for name, value in pairs if name != XSRF_FIELD]
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

    @property
    def wants_html(self) -> bool:
        return prefers_html(self.request.headers.get("Accept", ""))

    def write_page(self, template: str, **context: Any) -> None:
        """An HTML page for a browser (:mod:`spt_api.pages`): escaped, and no script but its own."""
        nonce = secrets.token_urlsafe(16)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Content-Security-Policy", content_security_policy(nonce, self.request.host))
        self.add_header("Vary", "Accept")
        # With auth on, a page's forms (Run, Abort, Delete) and its WebSocket carry the XSRF token; this
        # also sets the _xsrf cookie the page's script reads.
        xsrf = Markup(self.xsrf_form_html()) if self.authenticator is not None else ""
        home = self.absolute(self.settings_obj.base_path)
        self.finish(render_page(template, nonce=nonce, xsrf_field=xsrf, home=home, **context))

    @property
    def authenticator(self) -> Authenticator | None:
        """Checks tokens and sessions; None while authentication is off."""
        authenticator: Authenticator | None = self.application.settings.get("spt_authenticator")
        return authenticator

    def principal(self) -> Principal:
        """Who is asking, as :meth:`prepare` found: the anonymous user while auth is off (its jobs' ownerId
        is xsi:nil, UWS §2.1.8); with auth on, never anyone unauthenticated."""
        if self.current_principal is not None:
            return self.current_principal
        if self.authenticator is None:
            return ANONYMOUS
        raise MissingCredentials("authentication required: send a bearer token, or log in at /account/login")

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
        challenge = getattr(exc, "www_authenticate", None)
        if challenge:
            self.set_header("WWW-Authenticate", challenge)
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

    requires_auth = False  # a 404 tells nothing about anyone's jobs

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
