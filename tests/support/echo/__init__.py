"""Echo: a tiny feature that lives in the tests, to prove a feature is one folder and one line.

It has every adapter (a slash command, a task, a route, a console pane), a key family and a
configuration section (its defaults in `settings.yaml` beside it: load the settings with
`SETTINGS_FILE` while it is enabled), and is enabled by a fixture
(`townsquare.core.features.use_features("tests.support.echo")`), so it shows up in every
runtime without a change to runtime code.
"""

from __future__ import annotations

from tests.support.echo.domain import ECHO_FAMILY, ECHO_TASK
from tests.support.echo.domain.config import SETTINGS_FILE, EchoSection
from townsquare.core.features import Feature

__all__ = ["ECHO_TASK", "FEATURE", "PATH", "SETTINGS_FILE"]

PATH = "tests.support.echo"
"""The dotted path a test enables."""

FEATURE = Feature(
    name="echo",
    key_families=(ECHO_FAMILY,),
    config_sections=(EchoSection,),
    pipelines=("jobs",),
    commands="tests.support.echo.commands",
    tasks="tests.support.echo.tasks",
    web="tests.support.echo.web",
    console="tests.support.echo.console",
)
