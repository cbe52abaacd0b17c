from django.urls import path

from rumbo.offices import views

app_name = "offices"

urlpatterns = [
    path("", views.list, name="list"),
]
