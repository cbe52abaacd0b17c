"""API routes of the people app (mounted under /api/v1/)."""

from django.urls import path

urlpatterns: list = []
