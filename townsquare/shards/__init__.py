"""Gateway shards: hikari clients that normalise events and publish them to Redis streams."""
