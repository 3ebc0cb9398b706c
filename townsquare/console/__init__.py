"""The Textual operator console: live shards, queues, dead letters, premium and alerts."""

from __future__ import annotations

from townsquare.console.app import ConsoleApp, run_console

__all__ = ["ConsoleApp", "run_console"]
