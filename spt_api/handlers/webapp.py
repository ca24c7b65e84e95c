"""The built web app (``webapp/``, React + Vite) served under ``/app/cutout``.

``npm run build`` writes ``webapp/dist`` (``SPT_API_WEBAPP_DIR``): ``index.html`` and hashed files under
``assets/``. A file of the build is served as it is; any other path under the app (``/app/cutout/jobs/<id>``,
a page of the single-page app's own router) gets ``index.html``, so a reload or a shared link opens the
right page. A missing asset is a 404, never ``index.html`` served as JavaScript.

With authentication on, the page itself is for logged-in users: a visit without a session goes to the
login (``/account/login?next=<the page>``) and comes back to the page it asked for. The build's files
(scripts, styles) are served to anyone: they hold no data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tornado.web

from spt_api.config import Settings
from spt_api.handlers.auth import authenticator_of, login_url, principal_of
from spt_api.uws.errors import RequestError

__all__ = ["WEBAPP_PATH", "WebAppHandler", "webapp_built", "webapp_routes"]

#: Where the web app lives; the Vite build's ``base`` (webapp/vite.config.ts) and the Ingress say the same.
WEBAPP_PATH = "/app/cutout"
#: Hashed build outputs never change under one name: cached for a year.
ASSET_MAX_AGE = 365 * 24 * 3600
#: The page itself: same-origin scripts and styles only; images and fetches may follow a result's
#: redirect to the object store (a signed URL on another origin).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: http: https:; "
    "connect-src 'self' ws: wss: http: https:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class WebAppHandler(tornado.web.StaticFileHandler):
    """A file of the build, or ``index.html`` for the app's own routes (the single-page fallback)."""

    def initialize(self, path: str, default_filename: str | None = "index.html") -> None:  # type: ignore[override]
        super().initialize(path=path, default_filename=default_filename)

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Referrer-Policy", "same-origin")

    @staticmethod
    def is_page(root: str, path: str) -> bool:
        """Whether ``path`` gets the app's page (index.html) rather than a file of the build."""
        if path and (Path(root) / path).is_file():
            return path == "index.html"
        return not (path.startswith("assets/") or "." in path.rsplit("/", 1)[-1])

    @classmethod
    def get_absolute_path(cls, root: str, path: str) -> str:
        if cls.is_page(root, path):
            return str(Path(root) / "index.html")
        return str(Path(root) / path)  # a file of the build, or one that is not there: 404

    async def prepare(self) -> None:
        authenticator = authenticator_of(self)
        path = str(self.path_args[0]) if self.path_args else ""
        if authenticator is None or not self.is_page(self.root, path):
            return
        try:
            principal = await principal_of(self, authenticator)
        except RequestError as exc:  # a session without the user role (403), Keycloak unreachable (503)
            self._message = exc.message
            raise tornado.web.HTTPError(exc.status) from None
        if principal is None:
            self.redirect(login_url(self.request.uri or WEBAPP_PATH + "/"))

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        if not (Path(root) / "index.html").is_file():
            raise tornado.web.HTTPError(
                404, reason="Web App Not Built", log_message="the web app is not built (npm run build in webapp/)"
            )
        return super().validate_absolute_path(root, absolute_path)

    def set_extra_headers(self, path: str) -> None:
        if self.absolute_path is not None and Path(self.absolute_path).name == "index.html":
            self.set_header("Cache-Control", "no-cache")
            self.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        elif path.startswith("assets/"):
            self.set_header("Cache-Control", f"public, max-age={ASSET_MAX_AGE}, immutable")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        message = getattr(self, "_message", None)
        if message is not None:
            self.finish(f"{status_code} {self._reason}: {message}\n")
        elif status_code == 404 and self._reason == "Web App Not Built":
            self.finish(
                f"The web app is not built: run `npm ci && npm run build` in webapp/ (or `make run`), "
                f"or point SPT_API_WEBAPP_DIR at a build. Looked in {self.root}.\n"
            )
        else:
            self.finish(f"{status_code} {self._reason}\n")


def webapp_built(settings: Settings) -> bool:
    """Whether the web app's build is there to serve (``make run`` builds it when Node is installed)."""
    return (Path(settings.webapp_dir) / "index.html").is_file()


def webapp_routes(settings: Settings) -> list[Any]:
    """The routes of the web app: ``/app/cutout`` redirects to ``/app/cutout/``, which the build serves."""
    root = str(Path(settings.webapp_dir).resolve())
    return [
        (WEBAPP_PATH, tornado.web.RedirectHandler, {"url": WEBAPP_PATH + "/", "permanent": False}),
        (WEBAPP_PATH + r"/(.*)", WebAppHandler, {"path": root}),
    ]
