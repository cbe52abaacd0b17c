"""UI routes of the service directory, referrals and procedures (included in ``cases/urls.py``, under the
same app name "cases": ``cases:directory_*``, ``cases:referral_*``, ``cases:procedure_*``)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from rumbo.cases import views_directory as directory
from rumbo.cases import views_procedures as procedures
from rumbo.cases import views_referrals as referrals

urlpatterns: list[URLPattern | URLResolver] = [
    # Service catalogue and directory
    path("directory/", directory.services, name="directory_services"),
    path("directory/services/new/", directory.service_create_view, name="directory_service_create"),
    path("directory/services/<int:pk>/edit/", directory.service_edit_view, name="directory_service_edit"),
    path("directory/institutions/", directory.institutions, name="directory_institutions"),
    path(
        "directory/institutions/new/", directory.institution_create_view, name="directory_institution_create"
    ),
    path("directory/institutions/<int:pk>/", directory.institution_detail, name="directory_institution"),
    path(
        "directory/institutions/<int:pk>/edit/",
        directory.institution_edit_view,
        name="directory_institution_edit",
    ),
    path(
        "directory/institutions/<int:pk>/offerings/new/",
        directory.offering_create_view,
        name="directory_offering_create",
    ),
    path("directory/offerings/<int:pk>/edit/", directory.offering_edit_view, name="directory_offering_edit"),
    path("directory/procedures/", directory.procedure_kinds, name="directory_procedure_kinds"),
    path(
        "directory/procedures/new/",
        directory.procedure_kind_create_view,
        name="directory_procedure_kind_create",
    ),
    path(
        "directory/procedures/<int:pk>/edit/",
        directory.procedure_kind_edit_view,
        name="directory_procedure_kind_edit",
    ),
    # Referrals
    path("referrals/", referrals.referral_list_view, name="referral_list"),
    path("referrals/<int:pk>/", referrals.referral_detail_view, name="referral_detail"),
    path("referrals/<int:pk>/status/", referrals.referral_status_view, name="referral_status"),
    path("referrals/<int:pk>/letter.pdf", referrals.referral_letter_view, name="referral_letter"),
    path("<int:case_pk>/referrals/", referrals.referral_case, name="referral_case"),
    path("<int:case_pk>/referrals/new/", referrals.referral_send_view, name="referral_send"),
    # Procedures
    path("<int:case_pk>/procedures/new/", procedures.procedure_start_view, name="procedure_start"),
    path("procedures/<int:pk>/", procedures.procedure_detail_view, name="procedure_detail"),
    path("procedures/steps/<int:pk>/", procedures.procedure_step_view, name="procedure_step"),
]
