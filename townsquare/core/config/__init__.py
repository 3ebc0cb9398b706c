"""Per-guild configuration: one versioned document; each feature defines its own sections
(`townsquare/features/<name>/domain/config.py`) and the kernel joins the enabled ones."""

from __future__ import annotations

from townsquare.core.config.schemas import ConfigModel, ConfigSection, GuildConfig

__all__ = ["ConfigModel", "ConfigSection", "GuildConfig"]
