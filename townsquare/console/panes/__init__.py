"""The console's own views. Each pane only renders what the app read and asks for actions.

These panes never touch Redis or PostgreSQL: the app's refresh worker hands them plain values
(`show(...)`), and operator actions leave a pane as messages (:class:`DeadLetterAction`) once
the operator has confirmed them in a modal. Features add panes of their own
(:class:`~townsquare.console.panes.feature.FeaturePane`), which read their own data.
"""

from __future__ import annotations

from townsquare.console.panes.alerts import AlertAcknowledged, AlertsPane
from townsquare.console.panes.dead_letters import DeadLetterAction, DeadLettersPane
from townsquare.console.panes.feature import ConsoleContext, FeaturePane
from townsquare.console.panes.queues import QueuesPane
from townsquare.console.panes.shards import ShardsPane

__all__ = [
    "AlertAcknowledged",
    "AlertsPane",
    "ConsoleContext",
    "DeadLetterAction",
    "DeadLettersPane",
    "FeaturePane",
    "QueuesPane",
    "ShardsPane",
]
