from django.urls import path

from inbox import views

app_name = "inbox"

urlpatterns = [
    path("", views.index, name="index"),
    path("mentions/", views.mention_list, name="mention_list"),
]
