"""UI routes of matching (mounted at /matching/): the duplicates queue, comparison and decisions, the
matching settings of a network, and requests about a possible match at another office."""

from django.urls import path

from rumbo.matching import views

app_name = "matching"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("pairs/<int:pk>/", views.compare, name="compare"),
    path("pairs/<int:pk>/decision/", views.decide, name="decide"),
    path("settings/", views.settings_index, name="settings_index"),
    path("settings/<int:pk>/", views.network_settings, name="settings"),
    path("requests/", views.requests_received, name="requests"),
    path("requests/sent/", views.requests_sent, name="requests_sent"),
    path("requests/new/", views.request_create, name="request_create"),
    path("requests/<int:pk>/", views.request_decide, name="request_decide"),
]
