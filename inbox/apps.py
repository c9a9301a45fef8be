from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Inbox"

    def ready(self) -> None:
        # A channel page's quarantine retry stores its post as a pull does (channels.quarantine says why).
        from channels.quarantine import page_store_register
        from inbox.services import mentions_ingest

        page_store_register(mentions_ingest)
