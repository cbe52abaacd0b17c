"""Rumbo: case management for migrant-assistance offices, consulates in crises and their trainers."""

__version__ = "0.1.0"
