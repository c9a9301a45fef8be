from django.urls import path

from inbox import audit_views

urlpatterns = [
    path("", audit_views.index, name="index"),
    path("export.csv", audit_views.export, name="export"),
]
