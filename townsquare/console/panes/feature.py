"""The pane a feature adds to the console (its `console` module lists them in `PANES`).

A feature pane is a Textual widget with a tab of its own. The app's refresh worker calls its
:meth:`FeaturePane.read` on every tick (a failure shows through :meth:`FeaturePane.show_error`
and leaves the other panes alone), then hands the reading to :meth:`FeaturePane.show` on the
UI side. Operator actions are the pane's own: confirmed in a modal
(:class:`~townsquare.console.modals.ConfirmScreen`), run in a worker, audited as
:attr:`ConsoleContext.actor`, then :meth:`ConsoleContext.refresh` asks for a fresh reading.
"""

from __future__ import annotations

import dataclasses
import typing

from textual.containers import Vertical

if typing.TYPE_CHECKING:
    from collections.abc import Callable

    import redis.asyncio as aioredis

    from townsquare.core.audit.service import Actor
    from townsquare.core.keyspace import Keyspace

__all__ = ["ConsoleContext", "FeaturePane"]


@dataclasses.dataclass(frozen=True, slots=True)
class ConsoleContext:
    """What a feature pane may use: the console's Redis client and keyspace, the operator."""

    redis: aioredis.Redis
    keyspace: Keyspace
    actor: Actor
    """The person at the console, as the audit log names them."""
    refresh: Callable[[], None]
    """Ask for a fresh reading now (after an action)."""


class FeaturePane[Reading](Vertical):
    """A feature's tab in the console; see the module docs for the protocol."""

    TAB_ID: typing.ClassVar[str]
    """The tab's id (also the key of its reading and error in the snapshot)."""
    TITLE: typing.ClassVar[str]
    """The tab's label (the app numbers it)."""

    # Textual widgets have their own metaclass, so no abc.ABC: subclasses override these.
    async def read(self, context: ConsoleContext) -> Reading:
        """Read what the pane shows (PostgreSQL through the ORM, or Redis)."""
        raise NotImplementedError

    def show(self, reading: Reading) -> None:
        """Show a reading."""
        raise NotImplementedError

    def show_error(self, error: str) -> None:
        """Say that the last reading failed (keep showing the previous one)."""
        raise NotImplementedError

    @property
    def context(self) -> ConsoleContext:
        """The console's context (the app's)."""
        context: ConsoleContext = getattr(self.app, "context")  # noqa: B009 - any app with one
        return context
