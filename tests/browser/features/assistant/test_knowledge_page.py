"""The knowledge base in a real browser: chromium logs in through the sandbox's consent page,
writes a document, edits it, turns the assistant on in its settings page, and asks the "try
it" box, which answers from the edited text with a citation (the sandbox's loopback Gemini)."""

from __future__ import annotations

import typing

from tests.support.accessibility import PHONE, audit_pages
from tests.support.assistant import RULES
from tests.support.browser import logged_in_page
from tests.support.world import demo_guild, user_named
from townsquare.core.guilds.service import ensure_guild
from townsquare.features.assistant.domain.models import KnowledgeDocument

if typing.TYPE_CHECKING:
    from townsquare.sandbox import Sandbox


async def test_write_edit_and_try_the_knowledge_base(sandbox: Sandbox, http_service: str) -> None:
    guild_id = demo_guild(sandbox).id
    await ensure_guild(guild_id, name="Town Square Demo")
    knowledge = f"{http_service}/dashboard/guilds/{guild_id}/knowledge"
    async with logged_in_page(knowledge, user_named(sandbox, "sheriff")) as page:
        await page.fill("#d-title", "Server rules")
        await page.fill("#d-body", RULES)
        await page.click('form[enctype] button[type="submit"]')
        await page.wait_for_url(f"{knowledge}?done=saved")
        await page.click('#documents a:has-text("Server rules")')
        await page.wait_for_selector("text=Edit document")
        await page.set_viewport_size(PHONE)  # the editor at a phone's width (docs/dashboard.md)
        assert not await audit_pages(page, [page.url])
        edited = RULES.replace("#media", "#clips")
        await page.fill("#d-body", edited)
        await page.click('form[enctype] button[type="submit"]')
        await page.wait_for_url(f"{knowledge}?done=saved")

        settings_page = f"{http_service}/dashboard/guilds/{guild_id}/assistant"
        await page.goto(settings_page)
        await page.check("#f-enabled")
        await page.click('main form button[type="submit"]')
        await page.wait_for_url(f"{settings_page}?changed=enabled&saved=1")

        await page.goto(knowledge)
        await page.fill("#t-question", "where do links to videos go?")
        await page.click('form[action$="/try"] button[type="submit"]')
        answer = await page.locator("#try-answer").inner_text()

    document = await KnowledgeDocument.get(guild_id=guild_id)
    assert document.body == edited.strip() and document.version == 2
    assert "Links to videos go in #clips. [1]" in answer
    assert "[1] Server rules —" in answer and f"/knowledge/{guild_id}/{document.id}" in answer
