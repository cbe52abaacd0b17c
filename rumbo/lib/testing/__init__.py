"""Test helpers shared by every app's tests (factories, personas, permission matrix)."""
