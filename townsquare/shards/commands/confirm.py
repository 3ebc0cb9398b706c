"""A confirm/cancel button pair that only the invoker can press, and only for a while."""

from __future__ import annotations

import time
import typing
import weakref

import hikari
import miru
import structlog

if typing.TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["Buttons", "Confirmation"]

_log = structlog.get_logger(__name__)


class Confirmation(miru.View):
    """Buttons under a question; `on_confirm` runs once, when the invoker confirms in time.

    `on_confirm` returns the text that replaces the question. Anyone else who clicks is told,
    privately, that the buttons are not theirs. After `seconds` the question is edited to say
    it expired (by `on_expire`) and the buttons are gone; a click that races the expiry is
    refused, since miru's own timeout restarts on every click.
    """

    def __init__(
        self,
        invoker_id: int,
        on_confirm: Callable[[], Awaitable[str]],
        on_expire: Callable[[], Awaitable[None]],
        *,
        seconds: float,
    ) -> None:
        super().__init__(timeout=seconds, autodefer=False)
        self.invoker_id = invoker_id
        self._on_confirm = on_confirm
        self._on_expire = on_expire
        self._deadline = time.monotonic() + seconds
        self.confirmed = False

    @miru.button(label="Confirm", style=hikari.ButtonStyle.DANGER)
    async def confirm(self, ctx: miru.ViewContext, _: miru.Button) -> None:
        self.confirmed = True
        self.stop()
        await ctx.defer()  # the work may take longer than the 3-second window
        try:
            outcome = await self._on_confirm()
        except Exception:
            _log.exception("confirmed_action_failed")
            outcome = "Something went wrong on our side; it has been logged. Please try again."
        await ctx.edit_response(outcome, components=[])

    @miru.button(label="Cancel", style=hikari.ButtonStyle.SECONDARY)
    async def cancel(self, ctx: miru.ViewContext, _: miru.Button) -> None:
        self.stop()
        await ctx.edit_response("Cancelled: nothing was changed.", components=[])

    async def view_check(self, ctx: miru.ViewContext, /) -> bool:
        if ctx.user.id != self.invoker_id:
            await ctx.respond(
                f"Only <@{self.invoker_id}>, who asked for this, can answer it.",
                flags=hikari.MessageFlag.EPHEMERAL,
                user_mentions=False,
            )
            return False
        if time.monotonic() >= self._deadline:
            self.stop()
            await ctx.edit_response("Expired: nothing was changed.", components=[])
            return False
        return True

    async def on_timeout(self) -> None:
        await self._on_expire()


class Buttons:
    """Starts views on the miru client and stops those still running when the bot closes."""

    def __init__(self, client: miru.Client) -> None:
        self.client = client
        # Weak: a view that finished is dropped by miru and then forgotten here too.
        self._views: weakref.WeakSet[miru.View] = weakref.WeakSet()

    def start(self, view: miru.View) -> None:
        self._views.add(view)
        self.client.start_view(view)

    def stop_all(self) -> None:
        """Stop every running view (their timeouts would otherwise outlive the bot)."""
        views, self._views = list(self._views), weakref.WeakSet()
        for view in views:
            view.stop()
