"""taskiq middlewares of the pipeline brokers."""

from __future__ import annotations

from townsquare.tasks.middlewares.log_context import LogContextMiddleware
from townsquare.tasks.middlewares.retry import RetryMiddleware

__all__ = ["LogContextMiddleware", "RetryMiddleware"]
