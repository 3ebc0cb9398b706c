"""What a card says: the feed's text with its placeholders, and the embed, live or ended.

The text is the feed's template; `{role}` becomes the role's mention (put in front when the
template does not place it), and only that role may be pinged (`allowed_mentions` is built by
the task from the feed, never from the text). An ended card keeps the title and shows the
duration and the peak viewer count when known, without pinging again.
"""

from __future__ import annotations

import dataclasses
import typing

from townsquare.features.streams.domain.models import Platform

if typing.TYPE_CHECKING:
    import datetime

    from townsquare.features.streams.domain.models import Creator, Feed, Stream

__all__ = [
    "PLATFORM_NAMES",
    "CardView",
    "card_text",
    "card_view",
    "duration_text",
    "shared_view",
]

PLATFORM_NAMES: typing.Final = {
    Platform.TWITCH: "Twitch",
    Platform.KICK: "Kick",
    Platform.YOUTUBE: "YouTube",
}
_COLOURS: typing.Final = {
    Platform.TWITCH: 0x9146FF,
    Platform.KICK: 0x53FC18,
    Platform.YOUTUBE: 0xFF0000,
}
_ENDED_COLOUR: typing.Final = 0x747F8D
_PLACEHOLDERS: typing.Final = ("role", "creator", "platform", "title", "category", "url")


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def card_text(feed: Feed, creator: Creator, stream: Stream) -> str:
    """The message text: the template with its placeholders filled (at most 2000 characters)."""
    role = f"<@&{feed.role_id}>" if feed.role_id else ""
    template = feed.template
    if role and "{role}" not in template:
        template = "{role} " + template
    values = _Values(
        role=role,
        creator=creator.display_name,
        platform=PLATFORM_NAMES[creator.platform],
        title=stream.title or "(no title)",
        category=stream.category or "",
        url=stream.url or creator.url,
    )
    text = template
    for name in _PLACEHOLDERS:
        text = text.replace("{" + name + "}", values[name])
    if stream.upload:
        text = text.replace(" is live on ", " posted on ")
    return " ".join(text.split(" ")).strip()[:2000]


def duration_text(seconds: float) -> str:
    minutes = max(0, round(seconds / 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


@dataclasses.dataclass(frozen=True, slots=True)
class CardView:
    """The card's embed, in Discord's terms (the task turns it into one)."""

    title: str
    url: str
    colour: int
    author: str
    author_url: str
    footer: str
    timestamp: datetime.datetime | None
    fields: tuple[tuple[str, str], ...]
    """(name, value) pairs, shown inline."""
    image_url: str | None


def card_view(creator: Creator, stream: Stream) -> CardView:
    """The card's embed: live (title, category, viewers, thumbnail) or ended."""
    ended = stream.ended_at is not None
    name = PLATFORM_NAMES[creator.platform]
    if stream.upload:
        heading = f"{creator.display_name} posted a video on {name}"
    elif ended:
        heading = f"{creator.display_name} was live on {name}"
    else:
        heading = f"{creator.display_name} is live on {name}"
    fields: list[tuple[str, str]] = []
    if stream.category:
        fields.append(("Category", stream.category[:1024]))
    if ended and stream.started_at is not None and stream.ended_at is not None:
        seconds = (stream.ended_at - stream.started_at).total_seconds()
        fields.append(("Streamed for", duration_text(seconds)))
        if stream.peak_viewers is not None:
            fields.append(("Peak viewers", f"{stream.peak_viewers:,}"))
    elif stream.viewers is not None and not stream.upload:
        fields.append(("Viewers", f"{stream.viewers:,}"))
    return CardView(
        title=(stream.title or "(no title)")[:256],
        url=stream.url or creator.url,
        colour=_ENDED_COLOUR if ended else _COLOURS[creator.platform],
        author=heading[:256],
        author_url=creator.url,
        footer="Stream ended" if ended else name,
        timestamp=stream.started_at,
        fields=tuple(fields),
        image_url=stream.thumbnail_url if stream.thumbnail_url and not ended else None,
    )


def _names(platforms: list[str]) -> str:
    return (
        platforms[0] if len(platforms) == 1 else ", ".join(platforms[:-1]) + " and " + platforms[-1]
    )


def shared_view(person: str, streams: list[tuple[Creator, Stream]]) -> CardView:
    """One card for one person live on several platforms: a line per platform, live or ended;
    ended (grey) once every stream has ended."""
    live = [(creator, stream) for creator, stream in streams if stream.ended_at is None]
    shown = live or streams
    lead_creator, lead = shown[0]
    platforms = [PLATFORM_NAMES[creator.platform] for creator, _ in shown]
    heading = f"{person.title()} {'is' if live else 'was'} live on {_names(platforms)}"
    fields = []
    for creator, stream in streams:
        name = PLATFORM_NAMES[creator.platform]
        if stream.ended_at is None:
            viewers = f" · {stream.viewers:,} viewers" if stream.viewers is not None else ""
            fields.append(
                (
                    f"{name} · live",
                    f"[{stream.title or 'live'}]({stream.url or creator.url}){viewers}"[:1024],
                )
            )
        else:
            seconds = (stream.ended_at - (stream.started_at or stream.ended_at)).total_seconds()
            peak = f" · peak {stream.peak_viewers:,}" if stream.peak_viewers is not None else ""
            fields.append((f"{name} · ended", f"streamed for {duration_text(seconds)}{peak}"))
    return CardView(
        title=(lead.title or "(no title)")[:256],
        url=lead.url or lead_creator.url,
        colour=_COLOURS[lead_creator.platform] if live else _ENDED_COLOUR,
        author=heading[:256],
        author_url=lead_creator.url,
        footer=" · ".join(platforms) if live else "Streams ended",
        timestamp=min((s.started_at for _, s in streams if s.started_at), default=None),
        fields=tuple(fields),
        image_url=lead.thumbnail_url if live and lead.thumbnail_url else None,
    )
