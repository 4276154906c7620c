"""The Starlette application: token check, JSON API, images by sample_id, the static front end.

Security model: every request must carry the random token (``?token=`` or the
``X-Labelclean-Token`` header; state changes only by POST with the header, which a
cross-site page cannot send without a CORS preflight that is never granted); images are
looked up by sample_id in the manifest (no path ever comes from the client); a strict
Content-Security-Policy allows only this origin's own script, style and images.
"""

from __future__ import annotations

import hmac
from importlib import resources

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from labelclean.core.errors import LabelcleanError
from labelclean.review.server.data import Filters, ReviewData
from labelclean.review.server.decide import set_decision
from labelclean.review.server.neighbours import Neighbours
from labelclean.review.server.thumbs import SIZES, thumbnail

TOKEN_HEADER = "x-labelclean-token"
STATIC = ("app.js", "style.css")
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def static_text(name: str) -> str:
    return resources.files("labelclean.review.server").joinpath("static", name).read_text(encoding="utf-8")


class TokenMiddleware:
    """Refuse (403) every request without the right token; add the security headers."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        header = request.headers.get(TOKEN_HEADER, "")
        query = request.query_params.get("token", "")
        given = header if request.method != "GET" else (header or query)
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            resp = PlainTextResponse("403: missing or wrong token; open the URL that `labelclean review --serve` "
                                     "printed", status_code=403, headers=SECURITY_HEADERS)
            return await resp(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                for k, v in SECURITY_HEADERS.items():
                    if k.encode() not in have or k == "cache-control":
                        headers.append((k.encode(), v.encode()))
                message["headers"] = headers
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def create_app(data: ReviewData, neighbours: Neighbours | None, token: str) -> Starlette:
    """The review app over ``data``; every route needs ``token``."""
    index_html = static_text("index.html").replace("__TOKEN__", token)  # token is URL-safe base64

    def error(e: LabelcleanError, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": e.message, "hint": e.hint}, status_code=status)

    def page(request: Request) -> Response:
        return Response(index_html, media_type="text/html; charset=utf-8")

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:
            return PlainTextResponse("not found", status_code=404)
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return Response(static_text(name), media_type=f"{kind}; charset=utf-8")

    def summary(request: Request) -> Response:
        s = data.summary()
        s["neighbours"] = {"status": neighbours.status, "detail": neighbours.detail} if neighbours else None
        return JSONResponse(s)

    def items(request: Request) -> Response:
        q = request.query_params
        try:
            f = Filters.from_query(q)
            offset, limit = int(q.get("offset") or 0), int(q.get("limit") or 48)
        except LabelcleanError as e:
            return error(e)
        except ValueError:
            return JSONResponse({"error": "offset and limit must be integers"}, status_code=400)
        return JSONResponse(data.page(f, offset, limit, neighbours))

    async def decide(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"error": "send JSON (Content-Type: application/json)"}, status_code=415)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body is not valid JSON"}, status_code=400)
        sid, decision = body.get("id") if isinstance(body, dict) else None, body.get("decision") if isinstance(body, dict) else None
        if not isinstance(sid, str) or not (decision is None or isinstance(decision, str)):
            return JSONResponse({"error": "expected {\"id\": sample_id, \"decision\": text or null}"}, status_code=400)
        row = data.index.find(sid)
        if row is None:
            return JSONResponse({"error": f"sample {sid!r} is not in this workdir's selection"}, status_code=404)
        try:
            from starlette.concurrency import run_in_threadpool

            stored = await run_in_threadpool(set_decision, data.wd, sid, decision, data.classes)
        except LabelcleanError as e:
            return error(e, 409 if "in use" in e.message else 400)
        kind, _, label = (stored or "").partition(":")
        data.apply(row, kind or None, label or None)
        data.mark_written()
        return JSONResponse({"id": sid, "stored": stored, "state": data.item(row)["state"],
                             "counts": data.summary()["counts"]})

    def image(request: Request) -> Response:
        sid, size = request.query_params.get("id", ""), request.query_params.get("size", "thumb")
        if size not in SIZES:
            return PlainTextResponse(f"size must be one of {', '.join(SIZES)}", status_code=400)
        path = data.path_of(sid)
        if path is None:
            return PlainTextResponse("no such sample", status_code=404)
        cached = thumbnail(data.wd.root, sid, path, size)
        if cached is None:
            return PlainTextResponse("the image cannot be decoded", status_code=404)
        return FileResponse(cached, media_type="image/jpeg")

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/api/summary", summary),
        Route("/api/items", items),
        Route("/api/decide", decide, methods=["POST"]),
        Route("/img", image),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(TokenMiddleware, token=token)
    return app
