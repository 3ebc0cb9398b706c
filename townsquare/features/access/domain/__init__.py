"""Command access's domain: its configuration section (`commands`)."""
