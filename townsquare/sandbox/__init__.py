"""A loopback Discord (gateway, REST, OAuth2) with a seeded guild and a simulated community."""

from __future__ import annotations

from townsquare.sandbox.server import Sandbox, SandboxInfo, SandboxSettings, run_sandbox

__all__ = ["Sandbox", "SandboxInfo", "SandboxSettings", "run_sandbox"]
