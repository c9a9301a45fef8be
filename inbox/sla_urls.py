from django.urls import path

from inbox import sla_views

app_name = "sla"

urlpatterns = [
    path("", sla_views.index, name="index"),
    path("<slug:slug>/", sla_views.edit, name="edit"),
]
