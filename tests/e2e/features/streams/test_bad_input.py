"""Every bad webhook the issue names is refused with its status, posts nothing, crashes
nothing, and is logged with its reason but never the secret."""

from __future__ import annotations

import datetime
import typing
import uuid

import orjson
import structlog

from townsquare.features.streams.domain.access import SANDBOX_WEBHOOK_SECRET
from townsquare.features.streams.domain.verify import twitch_signature, youtube_signature
from townsquare.features.streams.domain.webhooks import MAX_WEBHOOK_BYTES

if typing.TYPE_CHECKING:
    from tests.support.streams import Streams

SECRET = SANDBOX_WEBHOOK_SECRET.get_secret_value()


def _twitch_headers(
    body: bytes, *, age: float = 0.0, message_id: str | None = None
) -> dict[str, str]:
    message_id = message_id or str(uuid.uuid4())
    sent = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=age)
    timestamp = sent.isoformat().replace("+00:00", "Z")
    return {
        "Twitch-Eventsub-Message-Id": message_id,
        "Twitch-Eventsub-Message-Type": "notification",
        "Twitch-Eventsub-Message-Timestamp": timestamp,
        "Twitch-Eventsub-Message-Signature": twitch_signature(
            SECRET.encode(), message_id, timestamp, body
        ),
        "Content-Type": "application/json",
    }


def _online(user_id: str, stream_id: str) -> bytes:
    return orjson.dumps(
        {
            "subscription": {
                "id": str(uuid.uuid4()),
                "status": "enabled",
                "type": "stream.online",
                "version": "1",
                "cost": 0,
                "condition": {"broadcaster_user_id": user_id},
                "transport": {"method": "webhook", "callback": "https://example.com"},
                "created_at": "2026-12-02T00:00:00Z",
            },
            "event": {
                "id": stream_id,
                "broadcaster_user_id": user_id,
                "broadcaster_user_login": "dorian",
                "broadcaster_user_name": "Dorian",
                "type": "live",
                "started_at": datetime.datetime.now(datetime.UTC).isoformat(),
            },
        }
    )


async def _post(streams: Streams, path: str, body: bytes, headers: dict[str, str]) -> int:
    async with streams.http.post(f"{streams.url}{path}", data=body, headers=headers) as answer:
        if answer.status >= 400:
            error = (await answer.json())["error"]
            assert SECRET not in error["message"]
        return answer.status


async def test_twitch_refusals(streams: Streams) -> None:
    await streams.add_feed("twitch", "dorian", "media")
    user_id = streams.sandbox.platforms.twitch.creators["dorian"].user_id
    body = _online(user_id, "777")
    unsigned = {k: v for k, v in _twitch_headers(body).items() if "Signature" not in k}
    stranger = _online("999", "1")
    forged = _twitch_headers(body) | {"Twitch-Eventsub-Message-Signature": "sha256=" + "0" * 64}
    cases = [
        ("missing signature", body, unsigned, 403),
        ("wrong signature", body, forged, 403),
        ("body changed", body.replace(b"777", b"778"), _twitch_headers(body), 403),
        ("stale timestamp", body, _twitch_headers(body, age=11 * 60), 403),
        ("malformed JSON", b"{not json", _twitch_headers(b"{not json"), 400),
        ("not an object", b"[1]", _twitch_headers(b"[1]"), 400),
        ("unknown broadcaster", stranger, _twitch_headers(stranger), 404),
    ]
    long_id = _online(user_id, "9" * 200)
    cases.append(("a stream id too long", long_id, _twitch_headers(long_id), 400))
    no_event = orjson.dumps(orjson.loads(body) | {"event": []})
    cases.append(("an event that is not an object", no_event, _twitch_headers(no_event), 400))
    huge = b"{" + b" " * MAX_WEBHOOK_BYTES + b"}"
    cases.append(("too large", huge, _twitch_headers(huge), 413))
    replayed = _twitch_headers(body, message_id="replayed-id")
    with structlog.testing.capture_logs() as logged:
        for what, payload, headers, status in cases:
            assert await _post(streams, "/webhooks/twitch", payload, headers) == status, what
        # A replayed message id: acknowledged, queued once, one card.
        assert await _post(streams, "/webhooks/twitch", body, replayed) == 204
        assert await _post(streams, "/webhooks/twitch", body, replayed) == 204
    await streams.settled()
    assert len(streams.cards("media")) == 1
    refusals = [entry for entry in logged if entry["event"] == "streams.webhook_refused"]
    assert [entry["status"] for entry in refusals] == [status for *_, status in cases]
    assert "event.id" in refusals[7]["reason"] or "stream_id" in refusals[7]["reason"]
    assert refusals[3]["code"] == "stale_timestamp"
    assert any(entry.get("outcome") == "replayed message id: ignored" for entry in logged)
    assert SECRET not in repr(logged)


async def test_youtube_and_kick_refusals(streams: Streams) -> None:
    await streams.add_feed("youtube", "@dorian", "media")
    channel = streams.sandbox.platforms.youtube.add_creator("dorian")
    topic = f"https://www.youtube.com/xml/feeds/videos.xml?channel_id={channel}"

    async def verification(**query: str) -> int:
        async with streams.http.get(f"{streams.url}/webhooks/youtube", params=query) as answer:
            return answer.status

    assert await verification(**{"hub.mode": "subscribe", "hub.topic": topic}) == 404
    other = topic.replace(channel, "UC" + "z" * 22)
    ask = {"hub.mode": "subscribe", "hub.topic": other, "hub.challenge": "x"}
    assert await verification(**ask) == 404  # a subscription we never asked for
    broken = {"hub.mode": "subscribe", "hub.topic": "http://[::1", "hub.challenge": "c"}
    assert await verification(**broken) == 404
    silly = {"hub.mode": "subscribe", "hub.topic": topic, "hub.challenge": "c"}
    assert await verification(**silly, **{"hub.lease_seconds": "9" * 30}) == 200  # capped
    feed = b"<feed xmlns='http://www.w3.org/2005/Atom'/>"
    secret = SECRET.encode()
    signed = {"X-Hub-Signature": youtube_signature(secret, feed)}
    assert await _post(streams, "/webhooks/youtube", feed, {}) == 403
    assert await _post(streams, "/webhooks/youtube", feed + b" ", signed) == 403
    assert (
        await _post(
            streams,
            "/webhooks/youtube",
            b"<feed",
            {"X-Hub-Signature": youtube_signature(secret, b"<feed")},
        )
        == 400
    )
    unknown = (
        b"<feed xmlns:yt='http://www.youtube.com/xml/schemas/2015' "
        b"xmlns='http://www.w3.org/2005/Atom'><entry><yt:videoId>abc</yt:videoId>"
        b"<yt:channelId>UCnobodyfollowsthis000</yt:channelId></entry></feed>"
    )
    headers = {"X-Hub-Signature": youtube_signature(secret, unknown)}
    assert await _post(streams, "/webhooks/youtube", unknown, headers) == 410

    kick = {
        "Kick-Event-Message-Id": "01J",
        "Kick-Event-Message-Timestamp": "2026-12-02T00:00:00Z",
        "Kick-Event-Type": "livestream.status.updated",
    }
    assert await _post(streams, "/webhooks/kick", b"{}", kick) == 403
    forged = kick | {"Kick-Event-Signature": "c2lnbmF0dXJl"}
    assert await _post(streams, "/webhooks/kick", b"{}", forged) == 403
    await streams.settled()
    assert streams.cards("media") == []
