"""Audit pages. Read-only by design: there is no route that changes or deletes an event."""

from django.urls import path

from rumbo.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.event_list, name="list"),
    path("person/<int:person_id>/", views.person_log, name="person"),
]
