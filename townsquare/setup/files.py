"""The operator's files `townsquare init` writes: `.env` (secrets) and the settings file.

Both are written whole to a scratch file beside the target and renamed over it, so a crash
leaves the old file or the new one, never half of either. `.env` is created with mode 0600
(owner only) from the first byte, and keeps every line it had that `init` does not set.
"""

from __future__ import annotations

import contextlib
import os
import typing

import yaml

if typing.TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

__all__ = ["merge_settings_file", "read_env_file", "write_env_file"]


def _replace(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        scratch.unlink()
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(descriptor, mode)  # whatever the umask
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            descriptor = -1
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        if descriptor != -1:
            os.close(descriptor)
    scratch.replace(path)


def read_env_file(path: Path) -> dict[str, str]:
    """The names and values a `.env` file sets (empty when there is none)."""
    if not path.is_file():
        return {}
    values = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.removeprefix("export ").partition("=")
            values[name.strip()] = value.strip().strip("'\"")
    return values


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """Set `values` in the `.env` at `path` (mode 0600), keeping its other lines."""
    kept = []
    if path.is_file():
        for raw in path.read_text(encoding="utf-8").splitlines():
            name = raw.strip().removeprefix("export ").partition("=")[0].strip()
            if name not in values:
                kept.append(raw)
    if not kept:
        kept = ["# Townsquare's secrets (written by `townsquare init`; keep this file private)."]
    lines = kept + [f"{name}={value}" for name, value in values.items()]
    _replace(path, "\n".join(lines) + "\n", 0o600)


def merge_settings_file(path: Path, choices: Mapping[str, Mapping[str, Any]]) -> None:
    """Set `choices` (section -> key -> value) in the YAML settings file at `path`."""
    document: dict[str, Any] = {}
    if path.is_file():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            document = loaded
    for section, keys in choices.items():
        current = document.get(section)
        document[section] = {**(current if isinstance(current, dict) else {}), **keys}
    header = (
        "# Townsquare settings (written by `townsquare init`); keys here override the defaults.\n"
        "# Secrets are not written here: they are in .env.\n"
    )
    _replace(path, header + yaml.safe_dump(document, sort_keys=False), 0o644)
