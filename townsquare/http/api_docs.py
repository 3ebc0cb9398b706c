"""`/api/docs`: an interactive API reference (Swagger UI), with a plain page as its fallback.

Swagger UI comes from the `swagger-ui-bundle-v2` package (its `swagger_ui_bundle` module ships
Swagger UI's built files, docs/dependencies.md) and is served from here, under
`/api/docs/assets/`: nothing is loaded from a CDN, which the content security policy forbids
anyway (quart-schema's own docs pages load from CDNs, so they are off). The page's script,
`static/api_docs.js`, is ours: it points Swagger UI at `/openapi.json` and, for "Try it out",
sends the dashboard's session cookie (same origin) and, on unsafe methods, the session's CSRF
token in `X-CSRF-Token`; API keys for `/public/v1` go in through Swagger UI's Authorize button.

Without JavaScript the same page shows the plain table of every route (a `<noscript>`), the
page this was before.
"""

from __future__ import annotations

import typing
from pathlib import Path

from quart import Blueprint, current_app, render_template, send_file
from quart_schema import hide
from swagger_ui_bundle import swagger_ui_path

from townsquare.http.access import optional_session
from townsquare.http.errors import APIError

if typing.TYPE_CHECKING:
    from quart import Response

__all__ = ["ASSETS", "blueprint"]

blueprint = Blueprint("api_docs", __name__)

METHODS: typing.Final = ("get", "put", "post", "patch", "delete")
ASSETS: typing.Final = frozenset({"swagger-ui-bundle.js", "swagger-ui.css"})
"""The files of the Swagger UI package the page needs; nothing else of it is served."""
ASSET_SECONDS: typing.Final = 86_400


@blueprint.get("/api/docs")
@hide
async def docs() -> str:
    spec = current_app.extensions["QUART_SCHEMA"].openapi_provider.schema()
    operations = []
    for path, item in sorted(spec.get("paths", {}).items()):
        for method in METHODS:
            if method in item:
                operation = item[method]
                operations.append(
                    {
                        "method": method.upper(),
                        "path": path,
                        "summary": operation.get("summary") or operation.get("description", ""),
                        "request": _schema_name(operation.get("requestBody")),
                        "responses": sorted(operation.get("responses", {})),
                    }
                )
    session = await optional_session()
    return await render_template(
        "api_docs.html",
        user=session,
        title=spec.get("info", {}).get("title", "API"),
        operations=operations,
    )


@blueprint.get("/api/docs/assets/<name>")
@hide
async def asset(name: str) -> Response:
    """One of Swagger UI's files (:data:`ASSETS`), as the package ships it."""
    if name not in ASSETS:
        raise APIError(404, "not_found", "no such file")
    path = Path(str(swagger_ui_path)) / name
    return await send_file(path, cache_timeout=ASSET_SECONDS, conditional=True)


def _schema_name(body: typing.Any) -> str:
    if not isinstance(body, dict):
        return ""
    for media in body.get("content", {}).values():
        schema = media.get("schema", {})
        reference = schema.get("$ref") or schema.get("title") or ""
        if reference:
            return str(reference).rsplit("/", 1)[-1]
    return ""
