"""The value rules every input shares: ids, text, and ids as JSON object keys.

One rule each, used by the configuration schemas, the API bodies, the dashboard's forms and the
route converters, so a value refused in one place is refused everywhere with the same words:

- :data:`Snowflake` (and :data:`RowId`): an integer in 1..2^63-1. Discord's ids fit in 63 bits
  and PostgreSQL's `bigint`, where ids and row ids are stored, is signed: anything larger would
  fail in the database instead of being refused at the door.
- :data:`SnowflakeKey`: the same, as a JSON object key, which is always a string: plain decimal
  digits, no sign, spaces, underscores or leading zeros (what :data:`SNOWFLAKE_KEY_PATTERN` says
  in the OpenAPI description).
- :data:`Text`: a string PostgreSQL can store: no NUL character (text columns and `jsonb` refuse
  `\\u0000`) and no lone surrogate (not encodable as UTF-8).
"""

from __future__ import annotations

import re
import typing
from typing import Annotated, Final

from pydantic import AfterValidator, BeforeValidator, Field

__all__ = [
    "ID_MAX",
    "NUL_MESSAGE",
    "SNOWFLAKE_KEY_PATTERN",
    "SURROGATE_MESSAGE",
    "TEXT_PATTERN",
    "RowId",
    "Snowflake",
    "SnowflakeKey",
    "Text",
    "clean_text",
    "decimal_at_most",
    "is_id",
    "parse_id",
]

ID_MAX: Final = 2**63 - 1
"""The largest id accepted anywhere: PostgreSQL's `bigint` maximum."""
NUL_MESSAGE: Final = "must not contain NUL characters (\\u0000)"
SURROGATE_MESSAGE: Final = "must be valid Unicode text (no lone surrogates)"


def decimal_at_most(limit: int) -> str:
    """A regular expression matching the decimal numbers 1..`limit` (no sign, no leading 0)."""
    digits = str(limit)
    shorter = f"[1-9][0-9]{{0,{len(digits) - 2}}}" if len(digits) > 1 else ""
    same_length = []
    for index, digit in enumerate(digits):
        head = digits[:index]
        rest = len(digits) - index - 1
        low = "1" if index == 0 else "0"
        if int(digit) > int(low):
            tail = f"[0-9]{{{rest}}}" if rest else ""
            same_length.append(f"{head}[{low}-{int(digit) - 1}]{tail}")
    same_length.append(digits)
    alternatives = "|".join(filter(None, [shorter, *same_length]))
    return "^(?:" + alternatives + ")$"  # keyspace: not a key (a regex)


SNOWFLAKE_KEY_PATTERN: Final = decimal_at_most(ID_MAX)
"""An id written as a JSON object key: decimal digits, 1..2^63-1."""
TEXT_PATTERN: Final = "^[^\\u0000]*$"
"""What the OpenAPI description says of every text field: no NUL character."""
_KEY: Final = re.compile(SNOWFLAKE_KEY_PATTERN)


def is_id(value: int) -> bool:
    """Whether `value` is an id we accept (1..2^63-1)."""
    return 1 <= value <= ID_MAX


def parse_id(text: str) -> int | None:
    """`text` (decimal digits, surrounding spaces allowed) as an id, or None if it is not one."""
    stripped = text.strip()
    if not stripped.isascii() or not stripped.isdecimal():
        return None
    value = int(stripped)
    return value if is_id(value) else None


def _key(value: typing.Any) -> typing.Any:
    if isinstance(value, str):
        if not _KEY.fullmatch(value):
            msg = f"keys must be ids: decimal digits from 1 to {ID_MAX}, not {value[:30]!r}"
            raise ValueError(msg)
        return int(value)
    return value


def clean_text(value: str) -> str:
    """`value` if PostgreSQL can store it; else a ValueError saying why."""
    if "\x00" in value:
        raise ValueError(NUL_MESSAGE)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(SURROGATE_MESSAGE) from None
    return value


Snowflake = Annotated[int, Field(ge=1, le=ID_MAX)]
"""A Discord id: 1..2^63-1."""
RowId = Annotated[int, Field(ge=1, le=ID_MAX)]
"""A row's id (`bigint` primary key): 1..2^63-1, the same rule as a snowflake."""
SnowflakeKey = Annotated[int, BeforeValidator(_key), Field(ge=1, le=ID_MAX)]
"""A Discord id as a JSON object key (`{"123": 1.5}`): see :data:`SNOWFLAKE_KEY_PATTERN`."""
Text = Annotated[
    str, AfterValidator(clean_text), Field(json_schema_extra={"pattern": TEXT_PATTERN})
]
"""A string PostgreSQL can store (no NUL, no lone surrogate); add length limits with Field."""
