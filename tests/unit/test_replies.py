from __future__ import annotations

import pytest

from townsquare.core.replies import as_text


def test_replies_become_text() -> None:
    assert as_text(b"1700000000000-0") == "1700000000000-0"
    assert as_text("ok") == "ok"
    assert as_text(42) == "42"
    assert as_text(None) == ""


def test_undecodable_bytes_are_replaced_only_when_asked() -> None:
    assert as_text(b"caf\xe9", errors="replace") == "caf\ufffd"
    with pytest.raises(UnicodeDecodeError):
        as_text(b"caf\xe9")
