from django.urls import path

from crisis import views

app_name = "crisis"

urlpatterns = [
    path("incidents/", views.incident_list, name="incidents"),
    path("incidents/<int:pk>/", views.incident_detail, name="incident"),
    path("incidents/<int:pk>/crisis-mode/", views.incident_crisis_mode, name="crisis_mode"),
    path("incidents/<int:pk>/all-clear/", views.incident_all_clear, name="all_clear"),
    path("incidents/<int:pk>/bulk/", views.incident_bulk, name="bulk"),
    path("policies/<int:segment_id>/", views.policy_save, name="policy"),
]
