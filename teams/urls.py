from django.urls import path

from teams import views

app_name = "teams"

urlpatterns = [
    path("", views.index, name="index"),
    path("away/", views.my_away, name="my_away"),
    path("<slug:slug>/", views.detail, name="detail"),
    path("<slug:slug>/members/", views.member_add, name="member_add"),
    path("<slug:slug>/members/<int:membership_id>/", views.member_update, name="member_update"),
    path("<slug:slug>/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("<slug:slug>/members/<int:membership_id>/away/", views.member_away, name="member_away"),
    path("<slug:slug>/assignment/", views.assignment, name="assignment"),
    path("<slug:slug>/channels/", views.channel_assign, name="channel_assign"),
    path("<slug:slug>/channels/<int:channel_id>/release/", views.channel_release, name="channel_release"),
]
