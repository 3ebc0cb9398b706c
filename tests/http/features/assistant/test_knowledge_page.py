"""The dashboard's knowledge-base page: documents written, uploaded, edited and deleted (the
passages follow in the same transaction), the documents limit, the public document page, and
the "try it" box running flow 7 against the sandbox's loopback Gemini."""

from __future__ import annotations

import html
import io
import typing

from werkzeug.datastructures import FileStorage

from tests.support.assistant import RULES
from tests.support.web import page_text
from tests.support.xp import configure
from townsquare.core.config.cache import drop_config
from townsquare.features.assistant.domain.models import KnowledgeChunk, KnowledgeDocument
from townsquare.features.assistant.domain.retrieval import search_passages

if typing.TYPE_CHECKING:
    import redis.asyncio as aioredis
    from quart.testing import QuartClient

    from townsquare.core.keyspace import Keyspace


def _page(guild_id: int) -> str:
    return f"/dashboard/guilds/{guild_id}/knowledge"


async def _save(client: QuartClient, guild_id: int, csrf: str, **form: str) -> tuple[int, str]:
    response = await client.post(_page(guild_id), form={"csrf_token": csrf, **form})
    return response.status_code, await response.get_data(as_text=True)


async def test_documents_are_written_edited_and_deleted_with_their_passages(
    sheriff: QuartClient, admin: str, bot_in_demo: int
) -> None:
    status, _ = await _save(sheriff, bot_in_demo, admin, title="Server rules", body=RULES)
    assert status == 303
    document = await KnowledgeDocument.get(guild_id=bot_in_demo)
    assert await KnowledgeChunk.filter(document_id=document.id).count() == 2  # Links, Spam
    listed = await page_text(sheriff, _page(bot_in_demo))
    assert "Server rules" in listed and "Document saved." not in listed

    public = await sheriff.get(f"/knowledge/{bot_in_demo}/{document.id}")
    assert "Do not post invite links" in await public.get_data(as_text=True)

    edited = await sheriff.post(
        f"{_page(bot_in_demo)}/{document.id}",
        form={"csrf_token": admin, "title": "Server rules", "body": "## Pets\nCats welcome."},
    )
    assert edited.status_code == 303
    assert await search_passages(bot_in_demo, "invite links", documents_limit=None) == []
    [found] = await search_passages(bot_in_demo, "cats", documents_limit=None)
    assert (found.heading, found.text) == ("Pets", "Cats welcome.")

    deleted = await sheriff.post(
        f"{_page(bot_in_demo)}/{document.id}/delete", form={"csrf_token": admin}
    )
    assert deleted.status_code == 303
    assert await KnowledgeChunk.all().count() == 0
    gone = await sheriff.get(f"/knowledge/{bot_in_demo}/{document.id}")
    assert gone.status_code == 404


async def test_uploads_and_bad_documents(
    sheriff: QuartClient, admin: str, bot_in_demo: int
) -> None:
    upload = await sheriff.post(
        _page(bot_in_demo),
        form={"csrf_token": admin, "title": ""},
        files={"file": FileStorage(io.BytesIO(b"## Bots\nUse /rank."), filename="faq.md")},
    )
    assert upload.status_code == 303
    assert (await KnowledgeDocument.get(guild_id=bot_in_demo)).title == "faq"
    binary = await sheriff.post(
        _page(bot_in_demo),
        form={"csrf_token": admin},
        files={"file": FileStorage(io.BytesIO(b"\x89PNG"), filename="logo.png")},
    )
    assert binary.status_code == 400
    assert "upload a .md or .txt file" in await binary.get_data(as_text=True)
    status, page = await _save(sheriff, bot_in_demo, admin, title="Empty", body="  ")
    assert status == 400 and "the document is empty" in page
    for number in range(2):  # the free tier allows 3 documents
        assert (await _save(sheriff, bot_in_demo, admin, title=f"D{number}", body="x"))[0] == 303
    status, page = await _save(sheriff, bot_in_demo, admin, title="Fourth", body="x")
    assert status == 402
    assert "3 of 3 knowledge-base documents on Free; Plus allows 50." in html.unescape(page)


async def test_try_it_runs_the_members_path(
    sheriff: QuartClient, admin: str, bot_in_demo: int, redis: aioredis.Redis, keyspace: Keyspace
) -> None:
    async def ask(question: str) -> str:
        response = await sheriff.post(
            f"{_page(bot_in_demo)}/try", form={"csrf_token": admin, "question": question}
        )
        assert response.status_code == 200
        return html.unescape(await response.get_data(as_text=True))

    await _save(sheriff, bot_in_demo, admin, title="Server rules", body=RULES)
    assert "The assistant is turned off in this server." in await ask("links?")
    await configure(bot_in_demo, ai={"enabled": True})
    await drop_config(redis, keyspace, bot_in_demo)  # as the dashboard's own change would
    answer = await ask("what are the rules about links?")
    assert "Do not post invite links to other servers. [1]" in answer
    assert "[1] Server rules —" in answer
    assert "I don't know" in await ask("what is the capital of France?")
