"""Domain logic, models and shared infrastructure; imports no process package."""
