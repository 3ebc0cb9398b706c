"""The Gemini assistant, grounded in the server's own knowledge (flow 7, docs/assistant.md).

- `domain/`: the path of a question (permission, rate limits, budget, retrieval, prompt,
  model, reply), the knowledge base (documents, passages, embeddings; hybrid retrieval), the
  google-genai client, its config section `ai` and key families;
- `commands.py`: `/ask`, `/summarize` (shards: checks, deferral, the job);
- `tasks.py`: answers, summaries, mentions and replies, indexed channels (workers);
- `web.py`: the knowledge-base page, "try it", settings, public document pages;
- `cli.py`: `townsquare assistant demo` (what `townsquare up` does by itself against the
  sandbox, through `domain/demo.py`: the demo guild's rules and FAQ, assistant on).
"""

from __future__ import annotations

from townsquare.core.activity import ASSISTANT_QUESTIONS
from townsquare.core.features import Feature
from townsquare.features.assistant.domain.config import UPGRADES, AISection, assistant_reads_content
from townsquare.features.assistant.domain.jobs import AI_PIPELINE, AI_ROUTE, assistant_schedules
from townsquare.features.assistant.domain.keys import ASSISTANT_FAMILIES

__all__ = ["FEATURE"]

FEATURE = Feature(
    name="assistant",
    # Answers as replies in its channels, reading the conversation before them.
    permissions=("VIEW_CHANNEL", "SEND_MESSAGES", "READ_MESSAGE_HISTORY"),
    models=("townsquare.features.assistant.domain.models",),
    key_families=ASSISTANT_FAMILIES,
    config_sections=(AISection,),
    config_upgrades=UPGRADES,
    pipelines=(AI_PIPELINE,),
    routes=(AI_ROUTE,),
    schedules=assistant_schedules(),
    commands="townsquare.features.assistant.commands",
    tasks="townsquare.features.assistant.tasks",
    web="townsquare.features.assistant.web",
    cli="townsquare.features.assistant.cli",
    usage="townsquare.features.assistant.usage",
    demo="townsquare.features.assistant.domain.demo",
    reads_message_content=assistant_reads_content,
    # Counted once per interaction or message by the answer jobs (tasks.py).
    activity_metrics=(ASSISTANT_QUESTIONS,),
)
