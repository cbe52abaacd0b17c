"""UI routes of the person registry (mounted at /people/)."""

from django.urls import path

from rumbo.people import merge_views, views

app_name = "people"

urlpatterns = [
    path("", views.search, name="search"),
    path("new/", views.create, name="create"),
    path("export.csv", views.export, name="export"),
    path("municipalities/", views.municipalities, name="municipalities"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/anonymise/", views.anonymise, name="anonymise"),
    path("<int:pk>/consent/", views.consent, name="consent"),
    path("<int:pk>/household/", views.household, name="household"),
    path("<int:pk>/merge/", merge_views.merge_start, name="merge_start"),
    path("<int:pk>/merge/<int:other>/", merge_views.merge, name="merge"),
    path("merges/<int:merge_id>/undo/", merge_views.unmerge, name="unmerge"),
]
