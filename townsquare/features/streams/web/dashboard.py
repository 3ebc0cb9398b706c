"""The live alerts' dashboard page: the `alerts` section (the switch and the defaults of new
feeds) and, below it, the server's feeds with their health, a form to add one and a button to
remove each (flow 9). The rules are the same as the API's (:mod:`.service`)."""

from __future__ import annotations

import typing

from pydantic import ValidationError
from quart import g, request
from quart_schema import hide

from townsquare.core.audit.models import ActorKind
from townsquare.core.audit.service import Actor
from townsquare.features.streams.domain.feeds import NewFeed
from townsquare.features.streams.domain.models import Platform, SubscriptionState
from townsquare.features.streams.web import service
from townsquare.http.blueprints import dashboard_blueprint
from townsquare.http.config_changes import read_config
from townsquare.http.config_forms import ConfigPage, FormField, form_values
from townsquare.http.dashboard import config_page, page_saved, render_page
from townsquare.http.errors import APIError, field_errors

if typing.TYPE_CHECKING:
    from werkzeug.wrappers.response import Response as BaseResponse

__all__ = ["ALERTS_PAGE", "blueprint"]

blueprint = dashboard_blueprint("streams_dashboard", __name__)

_FORM_FIELDS: typing.Final = ("platform", "creator", "channel_id", "role_id", "template", "person")


def _actor() -> Actor:
    return Actor(ActorKind.USER, g.ts_session.user_id, g.ts_session.username)


PLATFORM_LABELS: typing.Final = {
    Platform.TWITCH: "Twitch",
    Platform.KICK: "Kick",
    Platform.YOUTUBE: "YouTube",
}
"""The live alerts page's words for the values it shows, in one place."""
SUBSCRIPTION_LABELS: typing.Final = {
    SubscriptionState.PENDING: "Waiting for the platform to confirm",
    SubscriptionState.ENABLED: "Working",
    SubscriptionState.REVOKED: "Ended by the platform",
    SubscriptionState.FAILED: "Failed; retried automatically",
}


async def _feeds(guild_id: int) -> dict[str, typing.Any]:
    return {
        "feeds": await service.list_feeds(guild_id),
        "platforms": [(p.value, PLATFORM_LABELS.get(p, p.value)) for p in Platform],
        "platform_labels": {p.value: label for p, label in PLATFORM_LABELS.items()},
        "subscription_labels": {s.value: label for s, label in SUBSCRIPTION_LABELS.items()},
    }


ALERTS_PAGE: typing.Final = ConfigPage(
    "alerts",
    "Live alerts",
    "alerts",
    (
        FormField(
            "enabled",
            "Post live alerts",
            "bool",
            help="Off: no alert is posted; the feeds below are kept.",
        ),
        FormField(
            "channel_id",
            "Default channel of new feeds",
            "channel",
            help="Used by /alerts add when it names no channel.",
        ),
        FormField(
            "mention_role_id",
            "Default role pinged by new feeds",
            "role",
            help="Used by /alerts add when it names no role; no role: nobody is pinged.",
        ),
        FormField(
            "template",
            "Default text of new feeds",
            "textarea",
            help="{role}, {creator}, {platform}, {title}, {category} and {url} are replaced "
            "by the pinged role, the creator, the site, the stream's title and category and "
            "its link.",
        ),
        FormField(
            "announce_uploads",
            "New YouTube feeds announce uploads too",
            "bool",
            help="Off: they announce live streams only.",
        ),
    ),
    extra_template="streams/feeds.html",
    extra_context=_feeds,
    picks_roles=True,
)


@blueprint.post("/guilds/<id:guild_id>/stream-feeds")
@hide
async def add_feed(guild_id: int) -> BaseResponse | tuple[str, int]:
    form = await request.form
    submitted = {name: form.get(name, "").strip() for name in _FORM_FIELDS}
    submitted["announce_uploads"] = "true" if form.get("announce_uploads") else ""
    status, errors = 400, {}
    try:
        new = NewFeed.model_validate(
            {
                "platform": submitted["platform"],
                "creator": submitted["creator"],
                "channel_id": submitted["channel_id"],
                "role_id": submitted["role_id"] or None,
                "template": submitted["template"] or None,
                "announce_uploads": bool(submitted["announce_uploads"]),
                "person": submitted["person"] or None,
            }
        )
        await service.add_feed(guild_id, new, _actor())
    except ValidationError as invalid:
        errors = field_errors(invalid)
    except APIError as refused:
        status, errors = refused.status, refused.fields or {"_": [refused.message]}
    if errors:
        current = await read_config(guild_id)
        values = form_values(current.config, config_page(ALERTS_PAGE.name))
        page = await render_page(
            guild_id,
            ALERTS_PAGE.name,
            current.version,
            values,
            {},
            extra_errors=errors,
            extra_values=submitted,
        )
        return page, status
    return page_saved(guild_id, ALERTS_PAGE.name)


@blueprint.post("/guilds/<id:guild_id>/stream-feeds/<id:feed_id>/delete")
@hide
async def delete_feed(guild_id: int, feed_id: int) -> BaseResponse:
    await service.remove_feed(guild_id, feed_id, _actor())
    return page_saved(guild_id, ALERTS_PAGE.name)
