from django.urls import path

from inbox import views

app_name = "inbox"

urlpatterns = [
    path("", views.index, name="index"),
    path("mentions/", views.mention_list, name="mention_list"),
    path("mentions/bulk/", views.bulk, name="bulk"),
    path("mentions/<int:mention_id>/", views.detail, name="detail"),
    path("mentions/<int:mention_id>/assign/", views.assign, name="assign"),
    path("mentions/<int:mention_id>/reroute/", views.reroute, name="reroute"),
    path("mentions/<int:mention_id>/sentiment/", views.sentiment, name="sentiment"),
    path("mentions/<int:mention_id>/owner/", views.owner_decide, name="owner_decide"),
    path("mentions/<int:mention_id>/label/", views.label, name="label"),
    path("mentions/<int:mention_id>/priority/", views.priority, name="priority"),
    path("mentions/<int:mention_id>/snooze/", views.snooze, name="snooze"),
    path("mentions/<int:mention_id>/close/", views.close, name="close"),
    path("mentions/<int:mention_id>/reopen/", views.reopen, name="reopen"),
    path("mentions/<int:mention_id>/spam/", views.spam, name="spam"),
    path("mentions/<int:mention_id>/not-spam/", views.not_spam, name="not_spam"),
    path("mentions/<int:mention_id>/note/", views.note, name="note"),
    path("mentions/<int:mention_id>/reply/", views.reply, name="reply"),
    path("mentions/<int:mention_id>/escalation/accept/", views.escalation_accept, name="escalation_accept"),
    path("mentions/<int:mention_id>/escalation/bounce/", views.escalation_bounce, name="escalation_bounce"),
    path("mentions/<int:mention_id>/presence/", views.presence, name="presence"),
    path("replies/<int:reply_id>/approve/", views.reply_approve, name="reply_approve"),
    path("replies/<int:reply_id>/reject/", views.reply_reject, name="reply_reject"),
    path("replies/<int:reply_id>/retry/", views.reply_retry, name="reply_retry"),
    path("approvals/", views.approvals, name="approvals"),
    path("counts/", views.counts, name="counts"),
    path("events/", views.events, name="events"),
    path("views/", views.saved_view_save, name="saved_view_save"),
    path("views/<int:view_id>/delete/", views.saved_view_delete, name="saved_view_delete"),
]
