"""Settings for tests: the defaults with one section's keys overridden, as the environment would."""

from __future__ import annotations

import typing

from townsquare.core.settings import load_settings

if typing.TYPE_CHECKING:
    from townsquare.core.settings import Settings

__all__ = ["settings_in"]


def settings_in(section: str, **overrides: object) -> Settings:
    """Default settings with keys of `section` overridden: `settings_in("tasks",
    jobs__max_attempts=4)` sets `TOWNSQUARE__TASKS__JOBS__MAX_ATTEMPTS=4`."""
    prefix = f"TOWNSQUARE__{section.upper()}__"
    environ = {prefix + key.upper(): str(value) for key, value in overrides.items()}
    return load_settings(environ=environ, env_file=None)
