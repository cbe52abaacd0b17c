from django.urls import path

from rumbo.offices import views

app_name = "offices"

urlpatterns = [
    path("", views.office_list, name="list"),
    path("<int:pk>/", views.office_detail, name="detail"),
    path("<int:pk>/edit/", views.office_edit, name="edit"),
    path("<int:pk>/members/", views.office_members, name="members"),
    path("<int:pk>/members/<int:membership_pk>/revoke/", views.membership_revoke, name="revoke"),
]
