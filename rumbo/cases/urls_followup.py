"""Routes of the follow-up tasks and the office dashboard (under ``/cases/``, app_name "cases").

The lead includes them in ``rumbo/cases/urls.py``: ``urlpatterns += urls_followup.urlpatterns``.
"""

from django.urls import URLPattern, URLResolver, path

from rumbo.cases import views_dashboard, views_tasks

urlpatterns: list[URLPattern | URLResolver] = [
    path("tasks/", views_tasks.task_mine, name="task_mine"),
    path("tasks/office/", views_tasks.task_overdue, name="task_overdue"),
    path("tasks/<int:pk>/complete/", views_tasks.task_complete_view, name="task_complete"),
    path("tasks/<int:pk>/reschedule/", views_tasks.task_reschedule_view, name="task_reschedule"),
    path("<int:case_pk>/tasks/", views_tasks.task_case, name="task_case"),
    path("<int:case_pk>/tasks/new/", views_tasks.task_create_view, name="task_create"),
    path("dashboard/", views_dashboard.dashboard, name="dashboard"),
]
