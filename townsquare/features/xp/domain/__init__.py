"""XP, levels and level-role rewards."""
