"""How routes are described in `/openapi.json`, and the `<id:...>` path converter.

- :class:`IdConverter` (`<id:guild_id>`): every id in a path, a Discord snowflake or a row id,
  follows :mod:`townsquare.core.validation`'s one rule (1..2^63-1, at most 19 digits); anything
  else does not match the route (404), so no handler ever sees an id PostgreSQL cannot hold.
- :class:`ErrorBody` and :func:`errors`: the `{"error": {...}}` body every refusal has, and a
  decorator listing the statuses a route can refuse with, so the description has them all.
- :class:`TownsquareOpenAPI`: quart-schema's provider, adding the converter's bounds to path
  parameters and the answers a model cannot describe (a PNG, a redirect, an empty 204).
"""

from __future__ import annotations

import typing

from pydantic import BaseModel
from quart_schema import document_response
from quart_schema.openapi import OpenAPIProvider
from werkzeug.routing import IntegerConverter

from townsquare.core.validation import ID_MAX, SNOWFLAKE_KEY_PATTERN

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    from werkzeug.routing import Map
    from werkzeug.routing.converters import BaseConverter

__all__ = [
    "APP_WIDE_ERRORS",
    "ERROR_DESCRIPTIONS",
    "ErrorBody",
    "ErrorDetail",
    "IdConverter",
    "PremiumLimitDetail",
    "TownsquareOpenAPI",
    "errors",
    "non_json_response",
]

_NON_JSON: typing.Final = "townsquare_non_json_responses"


class IdConverter(IntegerConverter):
    """`<id:name>`: an id in 1..2^63-1 (a snowflake or a `bigint` row id); else no match."""

    # Exactly the decimal numbers 1..2^63-1, so an id out of range matches no rule at all: with
    # a looser regex werkzeug would see the path match another method's rule and say 405.
    regex = SNOWFLAKE_KEY_PATTERN.removeprefix("^").removesuffix("$")

    def __init__(self, map: Map) -> None:
        super().__init__(map, min=1, max=ID_MAX)


class PremiumLimitDetail(BaseModel):
    """Which premium limit refused (402 `premium_required`, core/premium.py)."""

    name: str
    """The limit, e.g. `xp.level_rewards` (docs/premium.md lists them)."""
    kind: str
    """`count`, `boolean` or `per_period`."""
    tier: str
    """The guild's tier now."""
    value: int | bool | None
    """The limit on that tier (null: no limit)."""
    usage: int
    """What the guild has (or used this period)."""
    lowest_tier: str | None
    """The lowest tier that would allow it; null when none does."""
    lowest_tier_value: int | bool | None
    upgrade_url: str | None
    """The guild's premium page in the dashboard."""
    sku_id: str | None = None
    """Discord's SKU of a tier that allows it (what Discord's premium button sells)."""


class ErrorDetail(BaseModel):
    code: str
    """Stable, for programs: `invalid_body`, `guild_forbidden`, `version_conflict`, ..."""
    message: str
    """For people."""
    fields: dict[str, list[str]] | None = None
    """Per field (dotted path), what is wrong with it; only on validation errors."""
    limit: PremiumLimitDetail | None = None
    """The premium limit that refused; only on 402 `premium_required`."""


class ErrorBody(BaseModel):
    """Every refusal: the status, and this body."""

    error: ErrorDetail


ERROR_DESCRIPTIONS: typing.Final = {
    400: "invalid body, query or reference (`fields` names each problem)",
    401: "no valid session or key",
    402: "a premium limit of the server's tier refuses it (`limit` says which)",
    403: "not allowed: another server, or a missing CSRF token",
    404: "no such thing (or an id outside 1..2^63-1)",
    409: "conflict with the stored state",
    413: "the body is too large",
    415: "the body is not JSON",
    429: "rate limited (see Retry-After)",
    502: "Discord answered with an error",
    503: "a service this answer needs is unavailable (see Retry-After)",
}


APP_WIDE_ERRORS: typing.Final = (503,)
"""Statuses every route may answer whatever it does: errors.py maps Redis or PostgreSQL being
unavailable to a 503 with `Retry-After`, wherever it is raised (docs/http.md)."""


def errors[F: Callable[..., typing.Any]](*statuses: int) -> Callable[[F], F]:
    """Document that the route may answer each of `statuses` with an :class:`ErrorBody`."""

    def decorate(func: F) -> F:
        for status in statuses:
            func = document_response(ErrorBody, status)(func)
        return func

    return decorate


def non_json_response[F: Callable[..., typing.Any]](
    status: int, description: str, content_type: str | None = None, headers: tuple[str, ...] = ()
) -> Callable[[F], F]:
    """Document an answer without a JSON body: a PNG, a redirect (`Location`), a 204."""

    def decorate(func: F) -> F:
        documented = dict(getattr(func, _NON_JSON, {}))
        documented[status] = (description, content_type, headers)
        setattr(func, _NON_JSON, documented)
        return func

    return decorate


class TownsquareOpenAPI(OpenAPIProvider):
    """quart-schema's description, with id bounds on path parameters and non-JSON answers."""

    def build_path_parameter(self, name: str, converter: BaseConverter) -> dict[str, typing.Any]:
        parameter = super().build_path_parameter(name, converter)
        if isinstance(converter, IdConverter):
            parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": ID_MAX}
            parameter["description"] = "an id, 1..2^63-1 (decimal, no leading zeros)"
        return parameter

    def build_paths(self, rule: typing.Any) -> tuple[dict[str, typing.Any], dict[str, typing.Any]]:
        paths, components = super().build_paths(rule)
        func = self._app.view_functions[rule.endpoint]
        documented = getattr(func, _NON_JSON, {})
        for operations in paths.values():
            for operation in operations.values():
                responses = {str(code): answer for code, answer in operation["responses"].items()}
                for status, (description, content_type, headers) in documented.items():
                    answer: dict[str, typing.Any] = {"description": description}
                    if content_type:
                        answer["content"] = {
                            content_type: {"schema": {"type": "string", "format": "binary"}}
                        }
                    if headers:
                        answer["headers"] = {
                            header: {"schema": {"type": "string"}} for header in headers
                        }
                    responses[str(status)] = answer
                for status in APP_WIDE_ERRORS:
                    answer = responses.setdefault(str(status), _error_answer(components))
                    answer["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
                for status, answer in responses.items():
                    if int(status) in ERROR_DESCRIPTIONS:
                        answer["description"] = ERROR_DESCRIPTIONS[int(status)]
                operation["responses"] = responses
        return paths, components


def _error_answer(components: dict[str, typing.Any]) -> dict[str, typing.Any]:
    """An :class:`ErrorBody` answer, as `document_response` writes one (its nested models added
    to `components`, the route's share of `#/components/schemas`)."""
    schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(schema.pop("$defs", {}))
    return {"description": "", "content": {"application/json": {"schema": schema}}}
