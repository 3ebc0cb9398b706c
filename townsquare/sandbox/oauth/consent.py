"""`/oauth2/authorize`: the consent page where a tester picks the sandbox user to log in as.

`GET` validates the request as Discord does (`client_id`, `response_type=code`, `redirect_uri`,
known scopes) and lists the sandbox's people, admins first; `POST` (one button per user, or
Cancel) redirects to `redirect_uri` with `code` and `state`, or with `error=access_denied`.
"""

from __future__ import annotations

import dataclasses
import html
import typing

import yarl
from aiohttp import web

from townsquare.sandbox.oauth.grants import KNOWN_SCOPES
from townsquare.sandbox.world.permissions import top_role_position

if typing.TYPE_CHECKING:
    from collections.abc import Mapping

    from townsquare.sandbox.oauth.grants import OAuthStore
    from townsquare.sandbox.world import World

__all__ = ["AUTHORIZE_PATH", "consent_routes"]

AUTHORIZE_PATH: typing.Final[str] = "/oauth2/authorize"


@dataclasses.dataclass(frozen=True, slots=True)
class _AuthorizeRequest:
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str | None

    def redirect(self, **query: str) -> web.HTTPFound:
        url = yarl.URL(self.redirect_uri)
        extra = query | ({"state": self.state} if self.state is not None else {})
        return web.HTTPFound(url.update_query(extra))


class _BadRequest(Exception):
    pass


def consent_routes(world: World, store: OAuthStore) -> list[web.RouteDef]:
    async def show(request: web.Request) -> web.Response:
        try:
            authorize = _parse(world, request.query)
        except _BadRequest as error:
            return _page("Invalid OAuth2 request", f"<p>{html.escape(str(error))}</p>", 400)
        return _page("Log in to the sandbox", _consent_body(world, request.query, authorize))

    async def decide(request: web.Request) -> web.Response:
        form = await request.post()
        fields = {k: str(v) for k, v in form.items()}
        try:
            authorize = _parse(world, fields)
        except _BadRequest as error:
            return _page("Invalid OAuth2 request", f"<p>{html.escape(str(error))}</p>", 400)
        if fields.get("action") == "deny":
            raise authorize.redirect(
                error="access_denied",
                error_description="The resource owner or authorization server denied the request",
            )
        raw_user = fields.get("user_id", "")
        user = world.users.get(int(raw_user)) if raw_user.isdigit() else None
        if user is None or user.bot:
            return _page("Invalid OAuth2 request", "<p>Pick a sandbox user to log in as.</p>", 400)
        code = store.issue_code(user.id, authorize.scopes, authorize.redirect_uri)
        raise authorize.redirect(code=code)

    return [web.get(AUTHORIZE_PATH, show), web.post(AUTHORIZE_PATH, decide)]


def _parse(world: World, query: Mapping[str, str]) -> _AuthorizeRequest:
    application = world.application
    if query.get("client_id") != str(application.id):
        msg = "Unknown application (client_id)."
        raise _BadRequest(msg)
    if query.get("response_type", "code") != "code":
        msg = "Only response_type=code is supported."
        raise _BadRequest(msg)
    redirect_uri = query.get("redirect_uri", "")
    url = yarl.URL(redirect_uri)
    if url.scheme not in {"http", "https"} or not url.host:
        msg = "Invalid OAuth2 redirect_uri."
        raise _BadRequest(msg)
    if application.redirect_uris and redirect_uri not in application.redirect_uris:
        msg = "Invalid OAuth2 redirect_uri: not registered for this application."
        raise _BadRequest(msg)
    scopes = tuple(dict.fromkeys(query.get("scope", "").replace("+", " ").split()))
    if not scopes or not set(scopes) <= KNOWN_SCOPES:
        msg = f"Invalid scope: {' '.join(scopes) or '(none)'}."
        raise _BadRequest(msg)
    return _AuthorizeRequest(redirect_uri, scopes, query.get("state"))


def _people(world: World) -> list[tuple[int, str, str]]:
    """(user id, name, standing) of every person, owners and high roles first."""
    ranked: dict[int, tuple[int, str]] = {}
    for guild in world.guilds.values():
        for member in guild.members.values():
            user = world.users[member.user_id]
            if user.bot:
                continue
            if member.user_id == guild.owner_id:
                rank, standing = 1_000_000, f"owner of {guild.name}"
            else:
                rank = top_role_position(guild, member)
                top = max(
                    (guild.roles[r] for r in member.role_ids if r in guild.roles),
                    key=lambda role: role.position,
                    default=None,
                )
                standing = f"{top.name if top else 'member'} in {guild.name}"
            if rank > ranked.get(user.id, (-1, ""))[0]:
                ranked[user.id] = (rank, standing)
    order = sorted(ranked.items(), key=lambda item: (-item[1][0], world.users[item[0]].username))
    return [(uid, world.users[uid].username, standing) for uid, (_, standing) in order]


def _consent_body(world: World, query: Mapping[str, str], authorize: _AuthorizeRequest) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in query.items()
        if k in {"client_id", "redirect_uri", "response_type", "scope", "state"}
    )
    buttons = "".join(
        f'<li><button type="submit" name="user_id" value="{uid}">{html.escape(name)}</button>'
        f" <small>{html.escape(standing)}</small></li>"
        for uid, name, standing in _people(world)
    )
    scopes = ", ".join(html.escape(s) for s in authorize.scopes)
    return (
        f"<p><b>{html.escape(world.application.name)}</b> wants access ({scopes}).</p>"
        f'<form method="post" action="{AUTHORIZE_PATH}">{hidden}'
        f"<p>Log in as:</p><ul>{buttons}</ul>"
        '<button type="submit" name="action" value="deny">Cancel</button></form>'
    )


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><h1>{title}</h1>{body}</body></html>"
    )
    return web.Response(text=text, status=status, content_type="text/html")
