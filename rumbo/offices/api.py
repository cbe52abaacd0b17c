"""API routes of the offices app (mounted under /api/v1/)."""

from django.urls import path

urlpatterns: list = []
