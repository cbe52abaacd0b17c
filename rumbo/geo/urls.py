from django.urls import path

from rumbo.geo import views

app_name = "geo"

urlpatterns = [
    path("areas/", views.areas, name="areas"),
    path("boundaries/mx/states.geojson", views.state_boundaries, name="boundaries"),
    path(
        "boundaries/mx/<str:cve_ent>/municipalities.geojson",
        views.municipality_boundaries,
        name="municipality_boundaries",
    ),
]
