from django.urls import path

from rumbo.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.list, name="list"),
]
