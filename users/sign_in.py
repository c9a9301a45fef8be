"""The sign-in throttle: failed sign-ins are counted per (username, address) and per address, in the cache
(Redis in production), and too many lock further attempts out for a cool-off period.

Our own rather than django-axes: we want a different limit per address than per account (one office
behind one address signs many people in), a message that says how long to wait, an audit event per
lock-out, and nothing added to AUTHENTICATION_BACKENDS (axes' backend refuses authenticate() calls made
without a request, which Django's test client and scripts make). The login form and the API token
endpoint both go through ``sign_in_check``/``sign_in_failed``/``sign_in_succeeded``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from foundation.events import event_record
from users.models import SignInLockout


@dataclass(frozen=True)
class SignInLock:
    """Sign-ins refused until ``until``."""

    until: datetime

    @property
    def minutes(self) -> int:
        return max(1, math.ceil((self.until - timezone.now()).total_seconds() / 60))

    @property
    def message(self) -> str:
        unit = "minute" if self.minutes == 1 else "minutes"
        return f"Too many failed sign-ins, try again in {self.minutes} {unit}."


def client_address(request: HttpRequest) -> str:
    """The address a sign-in comes from. Behind ``SOCIALOPS_TRUSTED_PROXIES`` proxies, the entry of
    X-Forwarded-For that the outermost trusted proxy wrote (what the client wrote itself is not trusted)."""
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.SOCIALOPS_TRUSTED_PROXIES
    if proxies:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return "0.0.0.0"  # noqa: S104 - not a bind address: one shared bucket for unreadable addresses


def _account_part(username: str) -> str:
    # Hashed: usernames may hold characters cache keys should not, and need not sit in Redis in clear.
    return hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]


def _keys(scope: SignInLockout.Scope, *, username: str, address: str) -> tuple[str, str]:
    """(failure counter, lock) cache keys of one scope."""
    part = f"{address}:{_account_part(username)}" if scope == SignInLockout.Scope.ACCOUNT else address
    return f"sign-in:failures:{scope}:{part}", f"sign-in:lock:{scope}:{part}"


def _limit(scope: SignInLockout.Scope) -> int:
    if scope == SignInLockout.Scope.ACCOUNT:
        return settings.SOCIALOPS_SIGN_IN_FAILURE_LIMIT
    return settings.SOCIALOPS_SIGN_IN_ADDRESS_FAILURE_LIMIT


def sign_in_check(*, username: str, address: str) -> SignInLock | None:
    """The lock in force for this username from this address, if any (the later of the two scopes)."""
    now = timezone.now().timestamp()
    locks = []
    for scope in SignInLockout.Scope:
        until = cache.get(_keys(scope, username=username, address=address)[1])
        if until is not None and until > now:
            locks.append(until)
    if not locks:
        return None
    return SignInLock(until=datetime.fromtimestamp(max(locks), tz=timezone.get_current_timezone()))


def sign_in_failed(*, username: str, address: str) -> SignInLock | None:
    """Counts a failed sign-in; the failure that reaches a limit locks its scope out and is audited."""
    cool_off = timedelta(minutes=settings.SOCIALOPS_SIGN_IN_COOL_OFF_MINUTES)
    for scope in SignInLockout.Scope:
        counter, lock = _keys(scope, username=username, address=address)
        # Counted within a window of the cool-off from the first failure; INCR is atomic in Redis.
        cache.add(counter, 0, timeout=cool_off.total_seconds())
        try:
            failures = cache.incr(counter)
        except ValueError:  # expired between add and incr
            cache.set(counter, 1, timeout=cool_off.total_seconds())
            failures = 1
        if failures == _limit(scope):
            until = timezone.now() + cool_off
            cache.set(lock, until.timestamp(), timeout=cool_off.total_seconds())
            cache.delete(counter)
            _lockout_record(scope=scope, username=username, address=address, failures=failures, until=until)
    return sign_in_check(username=username, address=address)


def sign_in_succeeded(*, username: str, address: str) -> None:
    """A correct password forgets this account's failures from this address (not the address's own)."""
    cache.delete(_keys(SignInLockout.Scope.ACCOUNT, username=username, address=address)[0])


def _lockout_record(
    *, scope: SignInLockout.Scope, username: str, address: str, failures: int, until: datetime
) -> None:
    with transaction.atomic():
        lockout = SignInLockout.objects.create(
            scope=scope,
            username=username[:150] if scope == SignInLockout.Scope.ACCOUNT else "",
            address=address,
            failures=failures,
            locked_until=until,
        )
        event_record(
            actor=None,
            verb="sign_in.locked",
            obj=lockout,
            after={
                "scope": scope.value,
                "username": lockout.username,
                "address": address,
                "failures": failures,
                "minutes": settings.SOCIALOPS_SIGN_IN_COOL_OFF_MINUTES,
            },
        )
