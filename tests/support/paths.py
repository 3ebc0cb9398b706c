"""Where things are on disk, for tests that start child processes or read project files."""

from __future__ import annotations

import typing
from pathlib import Path

__all__ = ["ROOT", "SCENARIOS"]

ROOT: typing.Final = Path(__file__).resolve().parents[2]
"""The repository's root: the working directory a `python -m tests....` child needs."""
SCENARIOS: typing.Final = Path(__file__).resolve().parent / "scenarios"
"""Sandbox scenarios the tests share (`four_shards.yaml`: eight guilds, two on each of four
shards)."""
