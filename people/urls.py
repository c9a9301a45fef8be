from django.urls import path

from people import views

app_name = "people"

urlpatterns = [
    path("suggestions/", views.suggestions, name="suggestions"),
    path("suggestions/<int:suggestion_id>/accept/", views.suggestion_accept, name="suggestion_accept"),
    path("suggestions/<int:suggestion_id>/dismiss/", views.suggestion_dismiss, name="suggestion_dismiss"),
    path("author/<int:author_id>/", views.author_profile, name="author"),
    path("<int:person_id>/", views.profile, name="profile"),
    path("<int:person_id>/split/<int:author_id>/", views.split, name="split"),
    path("<int:person_id>/vip/", views.vip, name="vip"),
    path("<int:person_id>/tags/", views.tags, name="tags"),
    path("<int:person_id>/notes/", views.note, name="note"),
    path("<int:person_id>/export.json", views.export, name="export"),
    path("<int:person_id>/erase/", views.erase, name="erase"),
]
