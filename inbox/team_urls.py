from django.urls import path

from inbox import team_views as views

app_name = "teams"

urlpatterns = [
    path("", views.index, name="index"),
    path("away/", views.my_away, name="my_away"),
    path("<slug:slug>/", views.detail, name="detail"),
    path("<slug:slug>/canned/", views.canned_list, name="canned_list"),
    path("<slug:slug>/canned/new/", views.canned_edit, name="canned_new"),
    path("<slug:slug>/canned/<int:canned_id>/", views.canned_edit, name="canned_edit"),
    path("<slug:slug>/canned/<int:canned_id>/delete/", views.canned_delete, name="canned_delete"),
    path("<slug:slug>/members/", views.member_add, name="member_add"),
    path("<slug:slug>/members/<int:membership_id>/", views.member_update, name="member_update"),
    path("<slug:slug>/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("<slug:slug>/members/<int:membership_id>/away/", views.member_away, name="member_away"),
    path("<slug:slug>/assignment/", views.assignment, name="assignment"),
    path("<slug:slug>/channels/", views.channel_request, name="channel_request"),
    path("<slug:slug>/channels/offer/", views.channel_offer, name="channel_offer"),
    path("<slug:slug>/channels/crisis-take/", views.channel_crisis_take, name="channel_crisis_take"),
    path("<slug:slug>/channels/<int:channel_id>/release/", views.channel_release, name="channel_release"),
    path("<slug:slug>/handovers/<int:handover_id>/accept/", views.handover_accept, name="handover_accept"),
    path("<slug:slug>/handovers/<int:handover_id>/decline/", views.handover_decline, name="handover_decline"),
    path(
        "<slug:slug>/handovers/<int:handover_id>/withdraw/", views.handover_withdraw, name="handover_withdraw"
    ),
]
