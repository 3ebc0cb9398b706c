"""Discord's OpenAPI description (vendored in tests/sandbox/discord_api_spec), for checking what
the bot sends against Discord's own schemas."""

from __future__ import annotations

import functools
import json
import typing
from pathlib import Path

import jsonschema
import referencing
import referencing.jsonschema

__all__ = ["SPEC_PATH", "schema_errors"]

SPEC_PATH: typing.Final = (
    Path(__file__).resolve().parents[1] / "sandbox" / "discord_api_spec" / "openapi.json"
)
_URI: typing.Final = "urn:discord-openapi"


@functools.cache
def _registry() -> referencing.Registry[typing.Any]:
    spec = json.loads(SPEC_PATH.read_text())
    resource = referencing.Resource.from_contents(
        spec, default_specification=referencing.jsonschema.DRAFT202012
    )
    return referencing.Registry().with_resource(_URI, resource)


def schema_errors(schema: str, value: object) -> list[str]:
    """What is wrong with `value` as Discord's `components/schemas/<schema>` (none: valid)."""
    ref = f"{_URI}#/components/schemas/{schema}"
    validator = jsonschema.Draft202012Validator({"$ref": ref}, registry=_registry())
    return [error.message for error in validator.iter_errors(value)]
