"""API routes of the audit app (mounted under /api/v1/)."""

from django.urls import path

urlpatterns: list = []
