"""UI routes of the imports app (mounted at /imports/)."""

from django.urls import path

from rumbo.imports import views

app_name = "imports"

urlpatterns = [
    path("", views.batch_list, name="list"),
    path("<int:pk>/", views.batch_detail, name="detail"),
    path("<int:pk>/status/", views.batch_status, name="status"),
    path("<int:pk>/mapping/", views.batch_mapping, name="mapping"),
    path("<int:pk>/preview/", views.batch_preview_rows, name="preview"),
    path("<int:pk>/errors.csv", views.batch_report, name="report"),
]
