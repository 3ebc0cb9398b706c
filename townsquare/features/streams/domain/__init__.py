"""The live alerts' rules: feeds, creators and their platform subscriptions, streams and their
cards, the platform clients, webhook verification, the `alerts` configuration section.
Imports the kernel only, never a runtime."""
