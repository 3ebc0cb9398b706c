"""The members feature's rules: no framework (docs/members.md)."""
