"""API routes of the geo app (mounted under /api/v1/)."""

from django.urls import path

urlpatterns: list = []
