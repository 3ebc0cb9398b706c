"""taskiq brokers, pipelines, the scheduler and their middlewares."""
