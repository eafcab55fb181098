"""The model-ops page, served by the serving worker at ``/ops/``.

One static HTML document (``app/static/ops.html``, package data); its script polls
``/api/overview`` (open, read-only) and draws,
for the busiest tenants: each tenant's models with roles and versions, a served-accuracy
sparkline with drift marks, and the last decisions. With the API token entered (kept in
the tab's sessionStorage only, checked against ``/api/auth``), it also offers promote and
retire buttons, which call the authenticated control API; without it the page is read-only.
"""

from __future__ import annotations

from importlib.resources import files

from faust.web import Request, Response, View

PAGE_FILE = files("app").joinpath("static", "ops.html")


class OpsPage(View):
    async def get(self, request: Request) -> Response:
        return self.html(PAGE_FILE.read_text(encoding="utf-8"))


def attach(rt) -> None:
    # A subclass per app: faust stores the route's name and path on the class.
    rt.app.page("/ops/", name="ops-page")(type("OpsPage", (OpsPage,), {}))
