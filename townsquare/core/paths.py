"""Where Townsquare's own files are, and where an operator's files go: a checkout or an install.

Run from a git checkout (`make run`, `make test`), the defaults are the repository's
`settings.yaml`, the migrations its top-level `migrations` package, and an operator's files
(`.env`, `var/`) sit in the working directory, as they always have.

Installed from a wheel (`pipx install townsquare`), the defaults and the migrations ship inside
the package (`townsquare/defaults/settings.yaml`, `townsquare.migrations`: the build maps them
in, see pyproject.toml), and an operator's files default to a per-user data directory
(platformdirs: `~/.local/share/townsquare` on Linux), the *home*: `.env`, the settings file
`townsquare.yaml` that `townsquare init` writes, and `var/`. `TOWNSQUARE_HOME` names another
home in both cases.
"""

from __future__ import annotations

import os
import typing
from pathlib import Path

import platformdirs

if typing.TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "CHECKOUT_ROOT",
    "HOME_ENV",
    "PACKAGE_DIR",
    "USER_SETTINGS_NAME",
    "defaults_file",
    "home_dir",
    "migrations_module",
    "user_settings_file",
]

HOME_ENV: typing.Final = "TOWNSQUARE_HOME"
"""Environment variable naming the home (`.env`, `townsquare.yaml`, `var/`)."""
USER_SETTINGS_NAME: typing.Final = "townsquare.yaml"
"""The operator's settings file in the home (`townsquare init` writes it)."""
PACKAGE_DIR: typing.Final = Path(__file__).resolve().parents[1]
"""The `townsquare` package's folder."""


def _checkout_root() -> Path | None:
    root = PACKAGE_DIR.parent
    markers = (root / "pyproject.toml", root / "settings.yaml", root / "migrations" / "__init__.py")
    return root if all(marker.is_file() for marker in markers) else None


CHECKOUT_ROOT: typing.Final = _checkout_root()
"""The repository's root when this package runs from a checkout; None when installed."""

_PACKAGED_DEFAULTS: typing.Final = PACKAGE_DIR / "defaults" / "settings.yaml"
_PACKAGED_MIGRATIONS: typing.Final = PACKAGE_DIR / "migrations" / "__init__.py"


def defaults_file() -> Path:
    """The defaults file: the package's copy in an install, the repository's in a checkout."""
    if _PACKAGED_DEFAULTS.is_file() or CHECKOUT_ROOT is None:
        return _PACKAGED_DEFAULTS
    return CHECKOUT_ROOT / "settings.yaml"


def migrations_module() -> str:
    """The dotted name of the migrations package tortoise loads (and `migrate --make` writes
    into): `townsquare.migrations` in an install, the checkout's top-level `migrations`."""
    if _PACKAGED_MIGRATIONS.is_file() or CHECKOUT_ROOT is None:
        return "townsquare.migrations"
    return "migrations"


def home_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where an operator's files are: `TOWNSQUARE_HOME`, else the working directory in a
    checkout (as a relative path, so `var` stays `var`), else the per-user data directory."""
    environ = os.environ if environ is None else environ
    if named := environ.get(HOME_ENV):
        return Path(named).expanduser()
    if CHECKOUT_ROOT is not None:
        return Path()
    return Path(platformdirs.user_data_dir("townsquare", appauthor=False))


def user_settings_file(environ: Mapping[str, str] | None = None) -> Path | None:
    """The operator's settings file read when none is named: `<home>/townsquare.yaml` if it
    exists, outside a checkout or with `TOWNSQUARE_HOME` set (a checkout reads none, as
    before, so a stray file in it never changes what the tests see)."""
    environ = os.environ if environ is None else environ
    if CHECKOUT_ROOT is not None and not environ.get(HOME_ENV):
        return None
    path = home_dir(environ) / USER_SETTINGS_NAME
    return path if path.is_file() else None
