"""The hikari internals `townsquare/shards/resume.py` relies on, checked against the installed
hikari: an upgrade that moves them fails here, not in a shard process."""

from __future__ import annotations

import inspect

import hikari
from hikari.impl import gateway_bot, shard

from townsquare.shards.resume import GatewaySession, ResumableGatewayBot, ResumableShard


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


def test_a_seeded_shard_resumes_from_the_session() -> None:
    new = ResumableShard(
        event_manager=None,  # type: ignore[arg-type]
        event_factory=None,  # type: ignore[arg-type]
        intents=hikari.Intents.GUILDS,
        http_settings=hikari.impl.HTTPSettings(),
        proxy_settings=hikari.impl.ProxySettings(),
        token="token",
        url="wss://gateway.example",
    )
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
