"""The giveaways domain: models, the entry store, the draw, the lifecycle, the configuration
section (docs/giveaways.md)."""
