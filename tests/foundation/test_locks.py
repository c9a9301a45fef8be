"""Locks that live as long as their holder: renewed while the work runs, lapsing soon after a holder dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.cache import cache

from foundation.locks import held_lock

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def test_a_live_holder_keeps_its_lock_past_the_lifetime_and_frees_it_at_the_end():
    with held_lock("test:lock:live", ttl=1) as taken:
        time.sleep(2.5)  # two and a half lifetimes: only the heartbeat keeps it
        second_try = cache.add("test:lock:live", "other", timeout=1)
        with held_lock("test:lock:live", ttl=1) as also_taken:
            pass

    assert taken is True
    assert second_try is False
    assert also_taken is False
    assert cache.get("test:lock:live") is None  # released


def test_a_holder_killed_mid_work_lets_its_lock_lapse_within_the_lifetime():
    script = (
        "import django, time; django.setup(); from foundation.locks import held_lock\n"
        "with held_lock('test:lock:killed', ttl=2) as taken:\n"
        "    print('taken' if taken else 'refused', flush=True); time.sleep(60)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "socialops.settings", "REDIS_URL": settings.REDIS_URL}
    holder = subprocess.Popen(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "taken"
        time.sleep(3)  # past one lifetime: the heartbeat kept it
        held_while_alive = cache.get("test:lock:killed") is not None
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        killed_at = time.monotonic()
        while cache.get("test:lock:killed") is not None and time.monotonic() - killed_at < 10:
            time.sleep(0.1)
        lapsed_after = time.monotonic() - killed_at
    finally:
        if holder.poll() is None:
            holder.kill()

    assert held_while_alive is True
    assert lapsed_after <= 2.5  # its lifetime, not minutes


def test_releasing_never_frees_a_lock_that_is_no_longer_ours():
    with held_lock("test:lock:theirs", ttl=30) as taken:
        cache.set("test:lock:theirs", "someone else", timeout=30)  # it lapsed and another took it

    assert taken is True
    assert cache.get("test:lock:theirs") == "someone else"
