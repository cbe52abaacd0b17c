"""Orientation cases UI routes (mounted at /cases/, app_name "cases").

The case, returns and arrivals, attachments and transfers are routed here; the directory and referrals
(``urls_directory``) and the follow-up tasks and dashboard (``urls_followup``) keep their own route modules,
added below when present.
"""

from django.urls import URLPattern, URLResolver, path

from rumbo.cases import urls_directory, urls_followup, views

app_name = "cases"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.case_list_view, name="list"),
    path("open/<int:person_pk>/", views.case_open_view, name="open"),
    path("<int:pk>/", views.case_detail_view, name="detail"),
    path("<int:pk>/edit/", views.case_edit_view, name="edit"),
    path("<int:pk>/status/", views.case_status_view, name="status"),
    path("<int:pk>/notes/", views.case_note_view, name="note_add"),
    path("<int:pk>/attachments/", views.attachment_add_view, name="attachment_add"),
    path("attachments/<int:pk>/", views.attachment_download_view, name="attachment_download"),
    path("<int:pk>/transfer/", views.transfer_request_view, name="transfer_request"),
    path("transfers/", views.transfer_list_view, name="transfers"),
    path("transfers/<int:pk>/", views.transfer_decide_view, name="transfer_decide"),
    path("transfers/<int:pk>/cancel/", views.transfer_cancel_view, name="transfer_cancel"),
    path("people/<int:person_pk>/returns/new/", views.return_add_view, name="return_add"),
    path("people/<int:person_pk>/arrivals/new/", views.arrival_add_view, name="arrival_add"),
    path("return-points/", views.return_points_view, name="return_points"),
]

# The directory, referral and procedure pages, and the follow-up tasks and dashboard.
urlpatterns += urls_directory.urlpatterns + urls_followup.urlpatterns
