from django.urls import path

from routing import views

app_name = "routing"

urlpatterns = [
    path("segments/", views.segments, name="segments"),
    path("segments/intents/", views.intents_save, name="intents_save"),
    path("segments/settings/", views.settings_save, name="settings_save"),
    path("segments/<slug:slug>/", views.segment_edit, name="segment_edit"),
    path("rules/", views.rules, name="rules"),
    path("rules/new/", views.rule_new, name="rule_new"),
    path("rules/new/json/", views.rule_json_new, name="rule_json_new"),
    path("rules/<int:pk>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/json/", views.rule_json, name="rule_json"),
    path("rules/<int:pk>/move/", views.rule_move, name="rule_move"),
    path("rules/<int:pk>/toggle/", views.rule_toggle, name="rule_toggle"),
    path("rules/<int:pk>/delete/", views.rule_delete, name="rule_delete"),
    path("backtests/<str:backtest_id>/", views.backtest, name="backtest"),
    path("backtests/<str:backtest_id>/progress/", views.backtest_progress, name="backtest_progress"),
    path("backtests/<str:backtest_id>/publish/", views.backtest_publish, name="backtest_publish"),
    path("versions/", views.versions, name="versions"),
    path("versions/diff/", views.versions_diff, name="versions_diff"),
    path("versions/<int:number>/rollback/", views.version_rollback, name="version_rollback"),
    path("models/", views.model_versions, name="model_versions"),
    path("models/train/", views.model_train, name="model_train"),
    path("models/training/", views.model_training, name="model_training"),
    path("models/<int:number>/activate/", views.model_version_activate, name="model_version_activate"),
]
