"""Premium refusals in the dashboard and the API: HTTP 402 `premium_required` (docs/http.md).

A route that lets a guild have more of something asks :func:`require_premium` first; a refusal
is an :class:`APIError` whose body also names the limit (`error.limit`: the limit, the guild's
tier and its value there, the usage, the lowest tier that allows it, the premium page), and
the dashboard renders the same words on its error page. Document the route with
`@errors(402)`.
"""

from __future__ import annotations

import typing

from quart import request

from townsquare.core.premium import PremiumRefused, premium_page_path, refusal_body
from townsquare.http.errors import APIError, render_error
from townsquare.http.state import state

if typing.TYPE_CHECKING:
    from quart import Quart, Response

    from townsquare.core.premium import Verdict

__all__ = ["PremiumRequiredError", "register_premium_errors", "require_premium"]


class PremiumRequiredError(APIError):
    """402: the guild's tier does not allow it; the body names the limit."""

    def __init__(self, verdict: Verdict, upgrade_url: str, sku_id: int | None = None) -> None:
        super().__init__(402, "premium_required", verdict.explain())
        self.verdict = verdict
        self.upgrade_url = upgrade_url
        self.sku_id = sku_id

    def body(self) -> dict[str, typing.Any]:
        body = refusal_body(self.verdict, self.upgrade_url, self.sku_id)
        body["error"]["message"] = self.message
        return body

    @classmethod
    def of(cls, verdict: Verdict, guild_id: int) -> PremiumRequiredError:
        """The 402 of `verdict` in `guild_id`: its premium page, and the SKU of a tier that
        allows it when one is configured."""
        app_state = state()
        url = app_state.settings.http.public_url.rstrip("/") + premium_page_path(guild_id)
        lowest = verdict.lowest_tier
        sku = None if lowest is None else app_state.require_gate().catalogue.sku_for(lowest)
        return cls(verdict, url, sku)


def register_premium_errors(app: Quart) -> None:
    """Answer a :class:`PremiumRefused` raised anywhere (a domain's check inside its
    transaction) as 402 `premium_required`."""

    @app.errorhandler(PremiumRefused)
    async def _premium_refused(error: PremiumRefused) -> Response:
        guild_id = int((request.view_args or {}).get("guild_id", 0))
        return await render_error(PremiumRequiredError.of(error.verdict, guild_id))


async def require_premium(
    guild_id: int, limit_name: str, *, usage: int = 0, adding: int = 1
) -> Verdict:
    """The gate's verdict if it allows; else raise :class:`PremiumRequiredError` (402)."""
    app_state = state()
    verdict = await app_state.require_gate().may(guild_id, limit_name, usage=usage, adding=adding)
    if not verdict.allowed:
        raise PremiumRequiredError.of(verdict, guild_id)
    return verdict
