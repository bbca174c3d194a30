"""The taxonomy routes of the JSON API: everyone logged in reads it, only admins change it.

=======  ==================================  ===============================================================
GET      /api/taxonomy                       ``{"empty", "classes": [{"name", "guideline", "aliases",
                                             "examples": [{"id", "media", "width", "height", ...}]}],
                                             "models": [{"model_id", "classes": [{"model_class",
                                             "class_name", "how"}], "unmapped": [...]}]}``
POST     /api/taxonomy/classes               body ``{"name", "guideline"?, "aliases"?}``: add a class or change
                                             one (a field left out stays as it is) -> the taxonomy
DELETE   /api/taxonomy/classes?name=NAME     remove a class with its aliases, mappings and examples
POST     /api/taxonomy/mapping               body ``{"model_id", "model_class", "class_name"}``; ``class_name``
                                             null removes the mapping -> the taxonomy
GET      /api/taxonomy/candidates?class=N    verified boxes of the class to pick examples from
POST     /api/taxonomy/examples              body ``{"class_name", "annotation_id"}``: cut the box from its
                                             frame's JPEG and keep it as an example -> ``{"example": {...}}``
DELETE   /api/taxonomy/examples/{id}         remove an example
=======  ==================================  ===============================================================

Class names travel in bodies and query strings, never in the path, so any name can be addressed.
A crop is a JPEG in the content-addressed media store, served by ``GET /media/{sha256}``.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from server.api.admin import AdminOf, JsonBody, UserOf
from server.api.admin import forbidden as forbidden_response
from server.api.bodies import ClassBody, ExampleBody, MappingBody
from server.errors import StoreError
from server.media import MediaBackend
from server.review.queue import ReviewQueue
from server.taxonomy import queries as taxonomy_queries
from server.taxonomy.crops import cut_crop
from server.taxonomy.model import ClassSpec


def taxonomy_routes(queue: ReviewQueue, media: MediaBackend, user_of: UserOf, admin_of: AdminOf,
                    json_body: JsonBody) -> list[BaseRoute]:
    def forbidden() -> Response:
        return forbidden_response("only admins may change the taxonomy")

    def described() -> dict:
        with queue.read_transaction() as conn:
            return taxonomy_queries.describe(conn)

    def change(admin: str, edit: Callable) -> dict:
        """Load, edit (a function of the taxonomy returning the new one) and save in one transaction."""
        with queue.write_transaction() as (conn, now):
            taxonomy_queries.save(conn, edit(taxonomy_queries.load(conn)), admin, now)
        return described()

    async def read_route(request: Request) -> Response:
        await user_of(request)
        return JSONResponse(await run_in_threadpool(described))

    async def upsert_class_route(request: Request) -> Response:
        admin = await admin_of(request)
        if admin is None:
            return forbidden()
        body = await json_body(request, ClassBody)

        def edit(taxonomy):
            current = next((spec for spec in taxonomy.classes if spec.name == body.name), ClassSpec(body.name))
            guideline = current.guideline if body.guideline is None else body.guideline
            aliases = current.aliases if body.aliases is None else body.aliases
            return taxonomy.with_class(ClassSpec(body.name, guideline.strip(),
                                                 tuple(a.strip() for a in aliases if a.strip())))
        return JSONResponse(await run_in_threadpool(change, admin, edit))

    async def delete_class_route(request: Request) -> Response:
        admin = await admin_of(request)
        if admin is None:
            return forbidden()
        name = request.query_params.get("name", "")
        return JSONResponse(await run_in_threadpool(change, admin, lambda taxonomy: taxonomy.without_class(name)))

    async def mapping_route(request: Request) -> Response:
        admin = await admin_of(request)
        if admin is None:
            return forbidden()
        body = await json_body(request, MappingBody)
        return JSONResponse(await run_in_threadpool(
            change, admin, lambda taxonomy: taxonomy.with_mapping(body.model_id, body.model_class, body.class_name)))

    async def candidates_route(request: Request) -> Response:
        if await admin_of(request) is None:
            return forbidden()
        name = request.query_params.get("class", "")

        def work():
            with queue.read_transaction() as conn:
                return taxonomy_queries.candidates(conn, name)
        return JSONResponse({"candidates": await run_in_threadpool(work)})

    async def add_example_route(request: Request) -> Response:
        admin = await admin_of(request)
        if admin is None:
            return forbidden()
        body = await json_body(request, ExampleBody)
        return JSONResponse({"example": await run_in_threadpool(add_example, admin, body.class_name, body.annotation_id)})

    def add_example(admin: str, name: str, annotation_id: int) -> dict:
        with queue.read_transaction() as conn:
            source = taxonomy_queries.example_source(conn, name, annotation_id)
        try:
            jpeg = media.get(source["media"])
        except StoreError as exc:
            raise StoreError(f"the image of frame {source['frame_id']} cannot be read: {exc}") from None
        crop, width, height = cut_crop(jpeg, source["box"])
        digest = media.put(crop)  # content-addressed: the same crop twice is one file
        with queue.write_transaction() as (conn, now):
            source = taxonomy_queries.example_source(conn, name, annotation_id)  # still true under the lock?
            return taxonomy_queries.add_example(conn, source, (digest, width, height), admin, now)

    async def remove_example_route(request: Request) -> Response:
        if await admin_of(request) is None:
            return forbidden()

        def work():
            with queue.write_transaction() as (conn, _):
                taxonomy_queries.remove_example(conn, request.path_params["example_id"])
        await run_in_threadpool(work)
        return JSONResponse({"removed": request.path_params["example_id"]})

    return [
        Route("/api/taxonomy", read_route, methods=["GET"]),
        Route("/api/taxonomy/classes", upsert_class_route, methods=["POST"]),
        Route("/api/taxonomy/classes", delete_class_route, methods=["DELETE"]),
        Route("/api/taxonomy/mapping", mapping_route, methods=["POST"]),
        Route("/api/taxonomy/candidates", candidates_route, methods=["GET"]),
        Route("/api/taxonomy/examples", add_example_route, methods=["POST"]),
        Route("/api/taxonomy/examples/{example_id:int}", remove_example_route, methods=["DELETE"]),
    ]
