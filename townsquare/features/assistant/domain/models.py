"""The knowledge base: a guild's documents and the passages (chunks) retrieval searches."""

from __future__ import annotations

import typing

from tortoise import fields
from tortoise.models import Model

if typing.TYPE_CHECKING:
    from townsquare.core.guilds.models import Guild

__all__ = ["KnowledgeChunk", "KnowledgeDocument"]


class KnowledgeDocument(Model):
    """A document the assistant answers from: written in the dashboard, uploaded, or one
    message of an indexed channel (`source = "message"`)."""

    id = fields.BigIntField(primary_key=True)
    guild: fields.ForeignKeyRelation[Guild] = fields.ForeignKeyField(
        "townsquare.Guild", related_name="knowledge_documents", on_delete=fields.CASCADE
    )
    title = fields.CharField(max_length=200)
    body = fields.TextField()
    source = fields.CharField(max_length=16)
    """`written`, `upload` or `message`."""
    url = fields.CharField(max_length=500, null=True)
    """Where a citation links: a message's jump link; None for the dashboard's page."""
    message_id = fields.BigIntField(null=True)
    """The indexed message, for `source = "message"`."""
    channel_id = fields.BigIntField(null=True)
    """The indexed message's channel, for `source = "message"`."""
    version = fields.IntField(db_default=1)
    """Raised on every edit; the chunks are rebuilt in the same transaction."""
    created_by = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    chunks: fields.ReverseRelation[KnowledgeChunk]

    class Meta:
        table = "knowledge_documents"
        unique_together = (("guild", "message_id"),)
        indexes = (("guild_id", "created_at"),)


class KnowledgeChunk(Model):
    """One passage of a document (about 500 tokens), searched by PostgreSQL full text."""

    id = fields.BigIntField(primary_key=True)
    document: fields.ForeignKeyRelation[KnowledgeDocument] = fields.ForeignKeyField(
        "townsquare.KnowledgeDocument", related_name="chunks", on_delete=fields.CASCADE
    )
    guild_id = fields.BigIntField()
    """The document's guild, repeated so a search filters on it without a join."""
    ordinal = fields.IntField()
    heading = fields.CharField(max_length=200, db_default="")
    text = fields.TextField()
    tokens = fields.IntField()
    """Estimated model tokens (see `chunking.estimate_tokens`)."""

    class Meta:
        table = "knowledge_chunks"
        unique_together = (("document", "ordinal"),)
        indexes = (("guild_id",),)
