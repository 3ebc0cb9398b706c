"""The audit log: every change made by a person or by the system."""
