"""Request bodies read strictly: bad bytes are the client's error (400), never a 500.

`TownsquareQuart` uses :class:`TownsquareRequest`, so every route that reads a body (JSON through
quart-schema or `request.get_json`, forms through `request.form`) gets these rules:

- JSON must be UTF-8 (RFC 8259) and nest at most :data:`MAX_JSON_DEPTH` arrays/objects deep.
  The depth is counted on the text before it is parsed, so a body of 100,000 `[` costs a scan
  that stops at the limit, not a `RecursionError` in the parser. Anything json refuses is a
  400 too, with the parser's reason.
- A urlencoded form must be UTF-8, its percent-escapes too (Quart's parser would drop the
  whole form on a bad byte, which then looked like a missing CSRF token), with at most
  :data:`MAX_FORM_FIELDS` fields.
- The size is bounded before any of this: `http.max_body_bytes`, from `Content-Length` and
  while reading a streamed body (413, :class:`~townsquare.http.app.TownsquareQuart`).
"""

from __future__ import annotations

import json
import re
import typing
from urllib.parse import unquote_plus

from quart.formparser import FormDataParser, ParserFunc
from quart.wrappers import Request
from werkzeug.datastructures import MultiDict

from townsquare.http.errors import APIError

if typing.TYPE_CHECKING:
    from quart.wrappers.request import Body

__all__ = [
    "MAX_FORM_FIELDS",
    "MAX_JSON_DEPTH",
    "StrictFormDataParser",
    "TownsquareRequest",
    "json_depth_exceeds",
    "parse_json_body",
]

MAX_JSON_DEPTH: typing.Final = 32
"""Deepest nesting of arrays and objects in a JSON body. A guild's config document nests
about five levels; Python's parser fails with `RecursionError` around a thousand."""
MAX_FORM_FIELDS: typing.Final = 1000
"""Most fields in one form body (the dashboard's largest form has a few dozen)."""

_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_OPENING: typing.Final = frozenset("[{")


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `text` nests arrays/objects deeper than `limit` (brackets in strings ignored).

    The count stops at the first bracket past the limit; at worst (1 MiB of `[]`) it takes
    tens of milliseconds. For malformed text (an unclosed string) the answer may be wrong
    either way; the parser then refuses the text anyway.
    """
    if text.count("[") + text.count("{") <= limit:  # most bodies: no scan at all
        return False
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    depth = 0
    for bracket in brackets:
        if bracket in _OPENING:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def parse_json_body(raw: bytes) -> typing.Any:
    """The JSON value of a body; 400 `invalid_json` naming what is wrong otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        message = f"the body is not UTF-8 (byte {error.start} cannot be decoded)"
        raise APIError(400, "invalid_json", message) from None
    if json_depth_exceeds(text):
        message = f"the body nests arrays or objects deeper than {MAX_JSON_DEPTH} levels"
        raise APIError(400, "invalid_json", message)
    try:
        return json.loads(text)
    except ValueError as error:
        raise APIError(400, "invalid_json", f"the body is not valid JSON: {error}") from None


async def _parse_strict_urlencoded(
    parser: FormDataParser,
    body: Body,
    mimetype: str,
    content_length: int | None,
    options: dict[str, str],
) -> tuple[MultiDict[str, str], MultiDict[str, str]]:
    """Quart's urlencoded parser, strict: bad UTF-8 is a 400 naming the field, not an empty
    form. Like `parse_qsl(keep_blank_values=True)`: `&` separates, `+` is a space."""
    raw = await body
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        message = f"the form is not UTF-8 (byte {error.start} cannot be decoded)"
        raise APIError(400, "invalid_form", message) from None
    pairs = [pair for pair in text.split("&") if pair]
    if len(pairs) > MAX_FORM_FIELDS:
        message = f"the form has more than {MAX_FORM_FIELDS} fields"
        raise APIError(400, "invalid_form", message)
    fields: list[tuple[str, str]] = []
    for number, pair in enumerate(pairs, start=1):
        name, _, value = pair.partition("=")
        try:
            fields.append(
                (unquote_plus(name, errors="strict"), unquote_plus(value, errors="strict"))
            )
        except UnicodeDecodeError:
            shown = unquote_plus(name, errors="replace")[:64]
            message = f"form field {number} ({shown!r}) is not UTF-8 once percent-decoded"
            raise APIError(400, "invalid_form", message) from None
    form_class = parser.cls or MultiDict
    return form_class(fields), form_class()


class StrictFormDataParser(FormDataParser):
    """Quart's form parser with :func:`_parse_strict_urlencoded` for urlencoded bodies.

    Multipart stays Quart's own, which replaces undecodable bytes in its fields with U+FFFD
    (no 500 either); no route of ours takes files.
    """

    parse_functions: dict[str, ParserFunc] = {  # noqa: RUF012 - as Quart declares it
        **FormDataParser.parse_functions,
        "application/x-www-form-urlencoded": _parse_strict_urlencoded,
        "application/x-url-encoded": _parse_strict_urlencoded,
    }


class TownsquareRequest(Request):
    """Quart's request, with bodies read by the rules of this module."""

    form_data_parser_class = StrictFormDataParser

    async def get_json(
        self, force: bool = False, silent: bool = False, cache: bool = True
    ) -> typing.Any:
        """The body as JSON (None when it is not `application/json` and not `force`).

        Unlike Quart's, a body that is not UTF-8, nests too deep or does not parse is a 400
        `invalid_json` with the reason (None with `silent`).
        """
        if cache and self._cached_json[silent] is not Ellipsis:
            return self._cached_json[silent]
        if not (force or self.is_json):
            return None
        raw = typing.cast("bytes", await self.get_data(cache=cache, as_text=False))
        try:
            result = parse_json_body(raw)
        except APIError:
            if not silent:
                raise
            result = None
        if cache:
            self._cached_json[silent] = result
        return result
