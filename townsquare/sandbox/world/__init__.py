"""The sandbox's world: entities, rules, payload shapes and scenario seeding."""

from __future__ import annotations

from townsquare.sandbox.world.scenario import Scenario, build_world, load_scenario
from townsquare.sandbox.world.state import Dispatch, World

__all__ = ["Dispatch", "Scenario", "World", "build_world", "load_scenario"]
