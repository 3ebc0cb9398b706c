"""The control API under /_sandbox/: drive the world and inspect what the bot did."""

from __future__ import annotations

from townsquare.sandbox.control.api import CONTROL_PREFIX, ControlApi

__all__ = ["CONTROL_PREFIX", "ControlApi"]
