from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("responsiveness/", views.responsiveness, name="responsiveness"),
    path("routing/", views.routing, name="routing"),
    path("sentiment/", views.sentiment, name="sentiment"),
    path("people/", views.people, name="people"),
    path("digest/", views.digest, name="digest"),
]
