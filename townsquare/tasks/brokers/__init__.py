"""Redis stream brokers, one per pipeline."""

from __future__ import annotations

from townsquare.tasks.brokers.factory import make_brokers
from townsquare.tasks.brokers.pipeline_broker import CONSUMER_GROUP, PipelineBroker

__all__ = ["CONSUMER_GROUP", "PipelineBroker", "make_brokers"]
