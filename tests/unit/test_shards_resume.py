"""The hikari internals `townsquare/shards/resume.py` relies on, checked against the installed
hikari: an upgrade that moves them fails here, not in a shard process."""

from __future__ import annotations

import inspect
import typing

import hikari
from hikari.impl import gateway_bot, shard

from townsquare.shards.resume import (
    IDENTIFY_OP,
    GatewaySession,
    ResumableGatewayBot,
    ResumableShard,
)


def test_the_shard_keeps_its_session_in_the_attributes_seeded() -> None:
    slots = set(shard.GatewayShardImpl.__slots__)
    assert {"_session_id", "_seq", "_resume_gateway_url", "_user_id", "_ws"} <= slots
    connect = inspect.getsource(shard.GatewayShardImpl._connect)
    # IDENTIFY when there is no sequence, else RESUME, on the resume URL when there is one.
    assert "if self._seq is None:" in connect
    assert "self._resume_gateway_url or self._gateway_url" in connect
    keep_alive = inspect.getsource(shard.GatewayShardImpl._keep_alive)
    # The keep-alive closes (with 1001 when closing) only the socket still in `_ws`.
    assert "if self._ws:" in keep_alive


def test_start_one_shard_is_overridden_with_hikaris_signature() -> None:
    ours = inspect.signature(ResumableGatewayBot._start_one_shard)
    theirs = inspect.signature(gateway_bot.GatewayBot._start_one_shard)
    assert list(ours.parameters) == list(theirs.parameters)
    body = inspect.getsource(gateway_bot.GatewayBot._start_one_shard)
    assert "shard_impl.GatewayShardImpl(" in body
    assert "self._shards[shard_id] = new_shard" in body


def _shard(**options: typing.Any) -> ResumableShard:
    """A shard that is never started (no event manager or factory needed)."""
    return ResumableShard(
        event_manager=None,  # type: ignore[arg-type]
        event_factory=None,  # type: ignore[arg-type]
        intents=hikari.Intents.GUILDS,
        http_settings=hikari.impl.HTTPSettings(),
        proxy_settings=hikari.impl.ProxySettings(),
        token="token",
        url="wss://gateway.example",
        **options,
    )


def test_a_seeded_shard_resumes_from_the_session() -> None:
    new = _shard()
    assert (new.session_id, new.seq, new.resume_url, new.user_id) == (None, None, None, None)
    assert new.position() is None
    new.seed(GatewaySession("abc", "wss://resume.example", 42, 7))
    assert (new.session_id, new.seq, new.resume_url, new.user_id) == (
        "abc",
        42,
        "wss://resume.example",
        7,
    )
    assert new.position() == ("abc", "wss://resume.example", 42, 7)


def test_identify_leaves_through_send_json_after_hello() -> None:
    assert shard._IDENTIFY == IDENTIFY_OP
    theirs = inspect.signature(shard.GatewayShardImpl._send_json)
    assert list(theirs.parameters) == ["self", "data", "priority"]
    assert theirs.parameters["priority"].kind is inspect.Parameter.KEYWORD_ONLY
    connect = inspect.getsource(shard.GatewayShardImpl._connect)
    # IDENTIFY goes through `_send_json`, after HELLO has been read.
    hello = connect.index("hello_payload = await self._ws.receive_json()")
    identify = connect.index("_OP: _IDENTIFY")
    assert hello < connect.rindex("await self._send_json(", 0, identify) < identify


class _Gate:
    def __init__(self, events: list[str]) -> None:
        self.events = events

    async def acquire(self, shard_id: int) -> str:
        self.events.append(f"acquire {shard_id}")
        return "permit"

    async def sent(self, permit: str | None) -> None:
        self.events.append(f"sent {permit}")


class _Socket:
    def __init__(self, events: list[str]) -> None:
        self.events = events

    async def send_json(self, data: dict[str, object]) -> None:
        self.events.append(f"op {data['op']}")


async def test_an_identify_waits_for_the_gate_and_other_payloads_do_not() -> None:
    events: list[str] = []
    new = _shard(
        shard_id=3,
        shard_count=4,
        identify_gate=_Gate(events),  # type: ignore[arg-type]
    )
    new._ws = _Socket(events)  # type: ignore[assignment]
    await new._send_json({"op": 1, "d": None}, priority=True)
    await new._send_json({"op": IDENTIFY_OP, "d": {}})
    await new._send_json({"op": 6, "d": {}})
    assert events == ["op 1", "acquire 3", "op 2", "sent permit", "op 6"]
