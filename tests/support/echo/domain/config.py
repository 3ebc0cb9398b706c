"""Echo's configuration section, `echo`: present in a guild's configuration only while the
feature is enabled. Its defaults live in `tests/support/echo/settings.yaml` (a deployment that
enables a feature gives its section's defaults in its settings file)."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated

from pydantic import Field

from townsquare.core.config.schemas import ConfigSection

__all__ = ["SETTINGS_FILE", "EchoSection"]

SETTINGS_FILE: typing.Final = Path(__file__).resolve().parents[1] / "settings.yaml"
"""The settings file with `guild_defaults.echo` (pass it to `load_settings`)."""


class EchoSection(ConfigSection):
    """What the echo feature would prefix its answers with."""

    key = "echo"

    prefix: Annotated[str, Field(max_length=20)]
    """Text put before an echo."""
