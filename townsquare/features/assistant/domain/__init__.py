"""The assistant: the domain (for now only its configuration section, `ai`)."""
