# Written by hand: the assistant's passage embeddings (gemini-embedding-001, 768 float32 values
# as bytea; pgvector is not assumed) and the per-guild generation counter that tells a
# process its cached vector matrix is stale
# (townsquare/features/assistant/domain/embeddings.py, vectors.py).
from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("townsquare", "0008_streams_person")]

    initial = False

    operations = [
        ops.RunSQL(
            [
                # NULL: not embedded yet; the embedding job picks these up (resumable).
                "ALTER TABLE knowledge_chunks ADD COLUMN embedding bytea",
                "CREATE INDEX knowledge_chunks_unembedded ON knowledge_chunks (id) "
                "WHERE embedding IS NULL",
                "CREATE TABLE knowledge_generations ("
                " guild_id BIGINT PRIMARY KEY,"
                " generation BIGINT NOT NULL DEFAULT 0)",
                # Every statement that changes a guild's passages (written, rebuilt, embedded,
                # deleted, cascaded from a document or a guild) raises its generation, in the
                # same transaction: no writer can forget to. Generations are microseconds
                # since the epoch (or one more than the last): increasing, and not repeated by
                # another database, whose cached matrices a process may also hold.
                "CREATE FUNCTION knowledge_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN "
                "INSERT INTO knowledge_generations AS g (guild_id, generation) "
                "SELECT guild_id, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint "
                "FROM (SELECT DISTINCT guild_id FROM changed) AS guilds "
                "ON CONFLICT (guild_id) DO UPDATE "
                "SET generation = greatest(g.generation + 1, excluded.generation); "
                "RETURN NULL; "
                "END $$",
                "CREATE TRIGGER knowledge_chunks_inserted AFTER INSERT ON knowledge_chunks "
                "REFERENCING NEW TABLE AS changed FOR EACH STATEMENT "
                "EXECUTE FUNCTION knowledge_bump_generation()",
                "CREATE TRIGGER knowledge_chunks_updated AFTER UPDATE ON knowledge_chunks "
                "REFERENCING NEW TABLE AS changed FOR EACH STATEMENT "
                "EXECUTE FUNCTION knowledge_bump_generation()",
                "CREATE TRIGGER knowledge_chunks_deleted AFTER DELETE ON knowledge_chunks "
                "REFERENCING OLD TABLE AS changed FOR EACH STATEMENT "
                "EXECUTE FUNCTION knowledge_bump_generation()",
            ],
            reverse_sql=[
                "DROP TRIGGER knowledge_chunks_deleted ON knowledge_chunks",
                "DROP TRIGGER knowledge_chunks_updated ON knowledge_chunks",
                "DROP TRIGGER knowledge_chunks_inserted ON knowledge_chunks",
                "DROP FUNCTION knowledge_bump_generation()",
                "DROP TABLE knowledge_generations",
                "DROP INDEX knowledge_chunks_unembedded",
                "ALTER TABLE knowledge_chunks DROP COLUMN embedding",
            ],
        ),
    ]
