"""Guilds the bot is in."""
