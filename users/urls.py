from django.urls import path

from users import views

app_name = "users"

urlpatterns = [
    path("", views.account, name="account"),
    path("tokens/", views.token_create, name="token_create"),
    path("tokens/<int:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("password/", views.PasswordChangeView.as_view(), name="password_change"),
]
