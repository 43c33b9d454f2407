"""API throttles that count in the database, so every worker and server shares one count per client.

DRF's own throttles keep, per client, the time of every request in the last period in Django's
cache: at 6,000 a minute that is a list of 6,000 floats read and written back whole on each
request, and the default cache is each process's own memory. Here each client has one row
holding the start of its current fixed window and the requests made in it, updated by one
statement. A fixed window lets a client through up to twice its rate across a window's edge,
which is no matter for a limit meant to stop runaway scripts.
"""
import math
import time

from django.conf import settings
from django.db import connection
from rest_framework.throttling import SimpleRateThrottle

from corpus.logins import client_ip

from .models import ApiRequestCount

# Rows untouched for a day are removed whenever an address opens a window, so that addresses
# seen once do not pile up. (Users' rows are as many as the users.)
FORGET_AFTER_SECONDS = 24 * 60 * 60


def count_request(key, window_start, prune=False):
    """Count one request of key in the window starting at window_start; the window's count so far."""
    quote = connection.ops.quote_name
    table, key_column, start, hits = (quote(name) for name in (
        ApiRequestCount._meta.db_table, "key", "window_start", "hits"))
    with connection.cursor() as cursor:
        # One atomic statement on SQLite and PostgreSQL alike: no lost count between workers.
        cursor.execute(
            f"INSERT INTO {table} ({key_column}, {start}, {hits}) VALUES (%s, %s, 1) "
            f"ON CONFLICT ({key_column}) DO UPDATE SET "
            f"{hits} = CASE WHEN {table}.{start} = excluded.{start} THEN {table}.{hits} + 1 ELSE 1 END, "
            f"{start} = excluded.{start} RETURNING {hits}",
            [key, window_start],
        )
        count = cursor.fetchone()[0]
        if prune and count == 1:
            cursor.execute(f"DELETE FROM {table} WHERE {start} < %s", [window_start - FORGET_AFTER_SECONDS])
    return count


class DatabaseRateThrottle(SimpleRateThrottle):
    """At most `rate` requests per client in each fixed window; the rate comes from the setting `rate_setting`."""

    rate_setting = None
    timer = time.time
    prune = False

    def get_rate(self):
        return getattr(settings, self.rate_setting)

    def allow_request(self, request, view):
        key = self.get_cache_key(request, view)
        if self.rate is None or key is None:
            return True
        now = self.timer()
        window_start = int(now // self.duration) * self.duration
        if count_request(key, window_start, prune=self.prune) <= self.num_requests:
            return True
        self.retry_after = window_start + self.duration - now
        return False

    def wait(self):
        return max(1, math.ceil(self.retry_after))


class UserRateThrottle(DatabaseRateThrottle):
    """LECTERN_API_USER_RATE per signed-in user, by token or session alike."""

    scope = "user"
    rate_setting = "LECTERN_API_USER_RATE"

    def get_cache_key(self, request, view):
        if not request.user or not request.user.is_authenticated:
            return None
        return f"user:{request.user.pk}"


class AnonRateThrottle(DatabaseRateThrottle):
    """LECTERN_API_ANON_RATE per client address, for the few endpoints open to anonymous requests."""

    scope = "anon"
    rate_setting = "LECTERN_API_ANON_RATE"
    prune = True

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return f"anon:{client_ip(request)}"
