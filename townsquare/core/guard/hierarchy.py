"""The guard's first two checks, as a pure function of the guild's facts: hierarchy, permission.

Discord itself only checks the bot against the target; the actor against the target is ours:
a moderator may act only on members whose highest role is below their own highest role,
nobody acts on the owner, on themselves or on the bot, and the bot's highest role must be above
the target's (or Discord refuses with 50013 anyway; we say why first).
"""

from __future__ import annotations

import dataclasses
import typing

import hikari

from townsquare.core.guard.actions import MEMBER_TARGETS, NEEDED_PERMISSION, Action, ActorKind

if typing.TYPE_CHECKING:
    from collections.abc import Mapping

    from townsquare.core.guard.actions import ActionRequest
    from townsquare.core.guard.policy import GuardPolicy

__all__ = [
    "NO_HIERARCHY",
    "Decision",
    "GuildFacts",
    "MemberFacts",
    "RoleFacts",
    "decide",
    "permissions_of",
]


@dataclasses.dataclass(frozen=True, slots=True)
class RoleFacts:
    id: int
    name: str
    position: int
    permissions: hikari.Permissions


@dataclasses.dataclass(frozen=True, slots=True)
class MemberFacts:
    user_id: int
    name: str
    role_ids: tuple[int, ...]
    is_bot: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class GuildFacts:
    guild_id: int
    name: str
    owner_id: int
    bot: MemberFacts
    """The bot's own member (its managed role)."""
    roles: Mapping[int, RoleFacts]
    """Every role, @everyone (id = the guild's) included."""

    def top_role(self, member: MemberFacts) -> RoleFacts:
        """The member's highest role (position, then the lower id wins a tie, like Discord)."""
        held = [self.roles[r] for r in member.role_ids if r in self.roles]
        everyone = self.roles.get(self.guild_id) or RoleFacts(
            self.guild_id, "@everyone", 0, hikari.Permissions.NONE
        )
        return max(held, key=lambda r: (r.position, -r.id), default=everyone)


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str
    """For a refusal, exactly why (shown to the actor); for an allowance, which right."""


def permissions_of(facts: GuildFacts, member: MemberFacts) -> hikari.Permissions:
    """The member's guild-wide permissions (the owner and administrators have all)."""
    if member.user_id == facts.owner_id:
        return hikari.Permissions.all_permissions()
    perms = hikari.Permissions.NONE
    everyone = facts.roles.get(facts.guild_id)
    if everyone is not None:
        perms |= everyone.permissions
    for role_id in member.role_ids:
        role = facts.roles.get(role_id)
        if role is not None:
            perms |= role.permissions
    if perms & hikari.Permissions.ADMINISTRATOR:
        return hikari.Permissions.all_permissions()
    return perms


def _outranks(facts: GuildFacts, actor: MemberFacts, target: MemberFacts) -> bool:
    if actor.user_id == facts.owner_id:
        return True
    mine, theirs = facts.top_role(actor), facts.top_role(target)
    return (mine.position, -mine.id) > (theirs.position, -theirs.id)


def decide(
    facts: GuildFacts,
    request: ActionRequest,
    policy: GuardPolicy,
    *,
    actor: MemberFacts | None,
    target: MemberFacts | None,
) -> Decision:
    """Hierarchy, then permission (flow 15). `actor` None: a system actor (the bot itself);
    `target` None: the target is not a member (a ban of a user who left, an unban)."""
    needed = NEEDED_PERMISSION[request.action]
    right = None if actor is None else _permission(facts, request, policy, actor, needed)
    refusal = _presence(request, actor, target)
    if refusal is None and right is not None and not right.allowed:
        # Someone with no right to act at all is told that, not how the roles compare.
        return right
    if refusal is None and request.action not in NO_HIERARCHY:
        refusal = _hierarchy(facts, request, actor, target)
    bot_lacks = permissions_of(facts, facts.bot) & needed != needed
    if refusal is None and request.touches_discord and bot_lacks:
        refusal = f"the bot lacks the {_permission_name(needed)} permission in this server"
    if refusal is not None:
        return Decision(False, refusal)
    return right or Decision(True, "automatic action by the bot")


NO_HIERARCHY: typing.Final = frozenset({Action.UNBAN, Action.PARDON, Action.DELETE, Action.PURGE})
"""Actions without a hierarchy check (and so without the target's member: an automod
deletion costs no member lookup)."""


def _presence(
    request: ActionRequest, actor: MemberFacts | None, target: MemberFacts | None
) -> str | None:
    if request.actor_kind is ActorKind.USER and actor is None:
        return "you are not a member of this server"
    if target is None and request.action in MEMBER_TARGETS:
        return f"<@{request.target_id}> is not a member of this server"
    return None


def _permission(
    facts: GuildFacts,
    request: ActionRequest,
    policy: GuardPolicy,
    actor: MemberFacts,
    needed: hikari.Permissions,
) -> Decision:
    if permissions_of(facts, actor) & needed == needed:
        return Decision(True, f"has the {_permission_name(needed)} permission")
    allowed_roles = policy.moderator_role_ids.get(request.action.value, frozenset())
    granted = [r for r in actor.role_ids if r in allowed_roles]
    if granted:
        role = facts.roles.get(granted[0])
        return Decision(True, f"has the moderator role {role.name if role else granted[0]}")
    return Decision(
        False,
        f"you need the {_permission_name(needed)} permission or a moderator role allowed "
        f"to {request.action.value}",
    )


def _hierarchy(
    facts: GuildFacts,
    request: ActionRequest,
    actor: MemberFacts | None,
    target: MemberFacts | None,
) -> str | None:
    target_id = request.target_id
    untouchable = {
        facts.owner_id: "nobody can moderate the server owner",
        facts.bot.user_id: "the bot cannot moderate itself",
    }
    if actor is not None:
        untouchable.setdefault(actor.user_id, "you cannot moderate yourself")
    if target_id in untouchable:
        return untouchable[target_id]
    if target is None:
        return None
    if actor is not None and not _outranks(facts, actor, target):
        mine, theirs = facts.top_role(actor), facts.top_role(target)
        return (
            f"your highest role {mine.name} is not above {target.name}'s highest role {theirs.name}"
        )
    if not _outranks(facts, facts.bot, target):
        bots, theirs = facts.top_role(facts.bot), facts.top_role(target)
        return (
            f"the bot's highest role {bots.name} is not above {target.name}'s highest role "
            f"{theirs.name} (move the bot's role higher)"
        )
    return None


def _permission_name(permission: hikari.Permissions) -> str:
    return (permission.name or str(permission)).replace("_", " ").title()
