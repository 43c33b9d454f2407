from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token


@login_required
@require_http_methods(["GET", "POST"])
def api_token(request):
    """The user's own API token: create or regenerate it, or revoke it so scripts holding it stop working."""
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "create":
            # A new key on every press: regenerating is how a leaked key is replaced.
            replaced, _ = Token.objects.filter(user=request.user).delete()
            Token.objects.create(user=request.user)
            messages.success(request, "A new token was created; scripts using the old one no longer get in."
                             if replaced else "Your token was created.")
        elif action == "revoke":
            deleted, _ = Token.objects.filter(user=request.user).delete()
            messages.success(request, "Your token was revoked." if deleted else "You had no token.")
        else:
            messages.error(request, "Unknown action.")
        return redirect("account-token")
    token = Token.objects.filter(user=request.user).first()
    return render(request, "annotations/token.html", {"token": token})
