"""Framework-light helpers shared by every Rumbo app."""
