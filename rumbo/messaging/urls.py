"""Messaging UI routes (operations page, channels, templates, campaigns, replies)."""

from django.urls import URLPattern, URLResolver

app_name = "messaging"
urlpatterns: list[URLPattern | URLResolver] = []
