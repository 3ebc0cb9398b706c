"""The console's five views. Each pane only renders what the app read and asks for actions.

Panes never touch Redis or PostgreSQL: the app's refresh worker hands them plain values
(`show(...)`), and operator actions leave a pane as messages (:class:`DeadLetterAction`,
:class:`PremiumAction`) once the operator has confirmed them in a modal.
"""

from __future__ import annotations

from townsquare.console.panes.alerts import AlertsPane
from townsquare.console.panes.dead_letters import DeadLetterAction, DeadLettersPane
from townsquare.console.panes.premium import PremiumAction, PremiumPane
from townsquare.console.panes.queues import QueuesPane
from townsquare.console.panes.shards import ShardsPane

__all__ = [
    "AlertsPane",
    "DeadLetterAction",
    "DeadLettersPane",
    "PremiumAction",
    "PremiumPane",
    "QueuesPane",
    "ShardsPane",
]
