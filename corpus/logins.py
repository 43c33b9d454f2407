"""Login throttling around django-axes: who the client is, the lock-out page, the reset on success."""
import ipaddress
import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import ValidationError
from django.db.models import Max, Q
from django.dispatch import receiver
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone


def client_ip(request):
    """The client's address: the connection's, or the one the nearest of LECTERN_PROXY_COUNT proxies saw."""
    proxies = settings.LECTERN_PROXY_COUNT
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if len(forwarded) >= proxies:
            # Entries left of this one come from the client and prove nothing.
            candidate = forwarded[-proxies]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass
    return request.META.get("REMOTE_ADDR")


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuse every login for a username or address that failed too often; logs no one in itself."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            # A password checked outside any request (the shell, a test client's login())
            # has no client to count; every login page passes its request.
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def retry_after(request, credentials):
    """Seconds until the lock-out of this request's username and address ends, at most the whole window."""
    window = get_cool_off(request)
    now = timezone.now()
    username = get_client_username(request, credentials)
    last = AccessAttempt.objects.filter(
        Q(username=username) | Q(ip_address=getattr(request, "axes_ip_address", None)),
        attempt_time__gte=now - window,
    ).aggregate(last=Max("attempt_time"))["last"]
    if last is None:
        return math.ceil(window.total_seconds())
    return max(1, math.ceil((last + window - now).total_seconds()))


def lockout_response(request, original_response=None, credentials=None):
    """The login page again, with the lock-out as its error, as 429 with Retry-After."""
    seconds = retry_after(request, credentials)
    minutes = math.ceil(seconds / 60)
    message = (
        "Too many failed logins for this username or from your network. Logins are refused for "
        f"{minutes} more minute{'s' if minutes != 1 else ''}, even with the right password."
    )
    context = getattr(original_response, "context_data", None) or {}
    form = context.get("form")
    if isinstance(original_response, TemplateResponse) and form is not None:
        # The form's own error says the password was wrong, which an owner locked out may not have got wrong.
        form.errors.clear()
        form.add_error(None, ValidationError(message, code="locked_out"))
        response = TemplateResponse(
            request, original_response.template_name, {**context, "locked_out": message}, status=429
        )
        response.render()
    else:
        response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(seconds)
    return response


@receiver(user_logged_in)
def forget_failed_logins(sender, request, user, **kwargs):
    """A successful login clears the failures at its username, from any address.

    Failures at other usernames still count against the address, so a guesser gains nothing by
    logging into an account of their own between guesses.
    """
    AccessAttempt.objects.filter(username=user.get_username()).delete()
