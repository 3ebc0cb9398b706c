"""The security guard: one path that decides, executes and records every moderation action.

`townsquare.core.guard.guard.guard_action` is the entry (flow 15 of the design; see
docs/moderation.md). This package's root imports nothing, so a process that only needs the
case model or the key families (the CLI, the migrations) does not load hikari.
"""
