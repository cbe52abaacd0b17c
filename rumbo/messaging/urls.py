"""Messaging UI routes (operations page, channels, templates, campaigns, a person's messages)."""

from django.urls import URLPattern, URLResolver, path

from rumbo.messaging import views

app_name = "messaging"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.operations, name="operations"),
    path("stats/", views.operations_stats, name="stats"),
    path("channels/", views.channel_list, name="channel_list"),
    path("channels/new/", views.channel_create, name="channel_kind"),
    path("channels/new/<str:kind>/", views.channel_create, name="channel_create"),
    path("channels/<int:pk>/", views.channel_detail, name="channel_detail"),
    path("channels/<int:pk>/edit/", views.channel_edit, name="channel_edit"),
    path("channels/<int:pk>/pause/", views.channel_pause, name="channel_pause"),
    path("channels/<int:pk>/resume/", views.channel_resume, name="channel_resume"),
    path("templates/", views.template_list, name="template_list"),
    path("templates/new/", views.template_create, name="template_create"),
    path("templates/<int:pk>/", views.template_edit, name="template_edit"),
    path("segments/", views.segments, name="segments"),
    path("campaigns/", views.campaign_list, name="campaign_list"),
    path("campaigns/new/", views.campaign_create, name="campaign_create"),
    path("campaigns/<int:pk>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<int:pk>/counts/", views.campaign_counts, name="campaign_counts"),
    path("people/<int:pk>/", views.person_messages, name="person"),
    path("people/<int:pk>/send/", views.person_send, name="person_send"),
    path("people/<int:pk>/preference/", views.person_preference, name="person_preference"),
]
