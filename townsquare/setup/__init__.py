"""First run and health: `townsquare init` (the setup wizard) and `townsquare doctor`.

- `files`: writing the operator's `.env` (secrets, mode 0600) and settings file atomically;
- `cli`: the two commands, which `townsquare.cli` adds to the `townsquare` command.

The rules (which permissions the features need, what a guild lacks) are the kernel's
(`townsquare.core.doctor`); the dashboard's Health page shows the same report.
"""
