"""Gateway callbacks (replies and delivery receipts), authenticated per channel; no session, no CSRF."""

from django.urls import URLPattern, URLResolver, path

from rumbo.messaging import webhooks

app_name = "messaging_hooks"
urlpatterns: list[URLPattern | URLResolver] = [
    path("<str:token>/<str:kind>/", webhooks.hook, name="hook"),
    path("<str:token>/<str:kind>/<path:rest>", webhooks.hook, name="hook-path"),
]
