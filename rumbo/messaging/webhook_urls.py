"""Gateway callbacks (replies and delivery receipts), authenticated per channel; no session, no CSRF."""

from django.urls import URLPattern, URLResolver

app_name = "messaging_hooks"
urlpatterns: list[URLPattern | URLResolver] = []
