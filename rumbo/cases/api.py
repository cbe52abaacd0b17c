"""Orientation cases API routes (cases, referrals, returns)."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
