from django.urls import path

from rumbo.geo import views

app_name = "geo"

urlpatterns: list = []
