"""The live alerts' Redis key families (docs/redis-keys.md), registered when it is loaded."""

from __future__ import annotations

import typing

from townsquare.core.keyspace import Family, HashTag, Part, RedisType, TTLPolicy

__all__ = ["DELIVERY_TTL_SECONDS", "STREAMS_FAMILIES"]

DELIVERY_TTL_SECONDS: typing.Final = 2 * 86_400
"""How long a delivery id is remembered: far past Twitch's retry horizon and the 10-minute
freshness window, after which a replay is refused by its timestamp anyway."""

STREAMS_FAMILIES: typing.Final[tuple[Family, ...]] = (
    Family(
        "streams_delivery",
        RedisType.STRING,
        (Part.NAME, Part.HASHED),
        TTLPolicy.fixed(DELIVERY_TTL_SECONDS, "past every platform's redelivery horizon"),
        "HTTP service (webhooks), stream polls",
        "Per platform: a delivery (message id, or poll observation) already queued.",
        HashTag.group("jobs"),
    ),
    Family(
        "streams_token",
        RedisType.STRING,
        (Part.NAME,),
        TTLPolicy.by_writer("the token's lifetime less a tenth, so it is renewed before expiry"),
        "streams tasks and HTTP service",
        "Per platform: the app access token (client credentials).",
    ),
    Family(
        "streams_rate",
        RedisType.HASH,
        (Part.NAME,),
        TTLPolicy.by_writer("expires at the bucket's reset"),
        "streams tasks and HTTP service (platform clients)",
        "Per platform: the rate-limit bucket every process spends from (remaining, reset ms).",
    ),
    Family(
        "streams_kick_key",
        RedisType.STRING,
        (),
        TTLPolicy.fixed(3600, "Kick's public key, fetched again hourly"),
        "HTTP service (Kick webhooks)",
        "Kick's webhook public key (PEM).",
    ),
    Family(
        "streams_card_lock",
        RedisType.STRING,
        (Part.INDEX, Part.INDEX),
        TTLPolicy.fixed(30, "held while one worker posts or edits a card"),
        "streams tasks",
        "Per feed and stream: the lease of the worker posting or editing its card.",
    ),
    Family(
        "streams_person_lock",
        RedisType.STRING,
        (Part.SNOWFLAKE, Part.HASHED),
        TTLPolicy.fixed(30, "held while one worker posts a card for a person in a channel"),
        "streams tasks",
        "Per channel and person: so a person's streams starting together share one card.",
    ),
    Family(
        "streams_poll",
        RedisType.STRING,
        (Part.NAME,),
        TTLPolicy.by_writer("the poll interval, longer after errors (backoff)"),
        "streams tasks (poll)",
        "Per platform: present until its next poll is due; holds the errors in a row.",
    ),
    Family(
        "streams_demo",
        RedisType.STRING,
        (),
        TTLPolicy.by_writer("an hour while trying; kept once the demo's feeds are set"),
        "streams tasks (poll), against the sandbox only",
        "Present once the sandbox demo's feeds are set up (or being tried).",
    ),
    Family(
        "streams_video",
        RedisType.STRING,
        (Part.HASHED,),
        TTLPolicy.fixed(600, "a video in a final state (upload, ended stream) asked again after"),
        "streams tasks (YouTube)",
        "Per YouTube video id: the Data API's answer (JSON) for a video in a final state.",
    ),
    Family(
        "streams_upcoming",
        RedisType.SORTED_SET,
        (),
        TTLPolicy.persistent("entries leave when the stream starts or is dropped"),
        "streams tasks",
        "YouTube video ids announced as upcoming, scored by when they were seen (s).",
    ),
)
