"""The API keys feature's HTTP side: the keys page, and the gate of `/public/v1`."""

from __future__ import annotations

import typing

from townsquare.features.apikeys.web import gate, keys_page
from townsquare.http.config_forms import GuildLink

__all__ = ["BLUEPRINTS", "GUILD_LINKS", "PUBLIC_GATE"]

BLUEPRINTS: typing.Final = (keys_page.blueprint,)
GUILD_LINKS: typing.Final = (GuildLink("api_keys", "API keys", "api_keys.show"),)
PUBLIC_GATE: typing.Final = gate.admit_request
