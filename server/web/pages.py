"""The UI's pages: review, track, and for admins the dashboard, consistency (with the frames behind
its figures, one frame, an adjudication), classes and the frame browser. They carry no data but the
session's name, role and CSRF token; the scripts fetch the rest from the JSON API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from server.auth.middleware import session_of


def page_routes(templates: Jinja2Templates) -> list[Route]:
    def page(template: str):
        async def render(request: Request) -> Response:
            session = session_of(request)
            response = templates.TemplateResponse(request, template, {"session": session,
                                                                      "query": dict(request.query_params)})
            response.headers["cache-control"] = "no-store"
            return response
        return render

    async def home(request: Request) -> Response:
        return RedirectResponse("/dashboard" if session_of(request).role == "admin" else "/review", status_code=303)

    return [
        Route("/", home, methods=["GET"]),
        Route("/review", page("review.html"), methods=["GET"]),
        Route("/track", page("track.html"), methods=["GET"]),
        Route("/dashboard", page("dashboard.html"), methods=["GET"]),
        Route("/consistency", page("consistency.html"), methods=["GET"]),
        Route("/consistency/frames", page("frames.html"), methods=["GET"]),
        Route("/consistency/frame", page("frame.html"), methods=["GET"]),
        Route("/adjudicate", page("adjudicate.html"), methods=["GET"]),
        Route("/classes", page("classes.html"), methods=["GET"]),
        Route("/frames", page("browse.html"), methods=["GET"]),
    ]
