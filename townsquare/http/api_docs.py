"""`/api/docs`: the OpenAPI description as a plain page, rendered here from `/openapi.json`.

quart-schema's own pages (Swagger UI, ReDoc, Scalar) load JavaScript from CDNs, which the
content security policy forbids and which must not be needed at run time, so they are off.
"""

from __future__ import annotations

import typing

from quart import Blueprint, current_app, render_template
from quart_schema import hide

__all__ = ["blueprint"]

blueprint = Blueprint("api_docs", __name__)

METHODS: typing.Final = ("get", "put", "post", "patch", "delete")


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
    return await render_template(
        "api_docs.html", title=spec.get("info", {}).get("title", "API"), operations=operations
    )


def _schema_name(body: typing.Any) -> str:
    if not isinstance(body, dict):
        return ""
    for media in body.get("content", {}).values():
        schema = media.get("schema", {})
        reference = schema.get("$ref") or schema.get("title") or ""
        if reference:
            return str(reference).rsplit("/", 1)[-1]
    return ""
