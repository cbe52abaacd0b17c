"""Rumbo: case management for migrant-assistance offices, consulates in crises and the programme that trains them."""

__version__ = "0.1.0"
