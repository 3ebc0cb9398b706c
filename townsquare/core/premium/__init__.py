"""Premium tiers and subscriptions."""
