import json
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponseBadRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError


class ContentSecurityPolicyMiddleware:
    """Send the Content-Security-Policy header; pages load scripts only as files from this origin."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


class RefuseNulMiddleware:
    """Answer 400 to a request whose path, query or form or JSON body holds a NUL character.

    PostgreSQL stores no NUL in text and fails the whole query on one, so such a value would
    otherwise crash the lookup or the save it reaches (a 500). Uploaded files are not looked at.
    """

    JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
    FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self.holds_nul(request):
            message = "A NUL character (U+0000) cannot be stored; remove it from the request."
            if request.path.startswith("/api/"):
                fields = self.fields_with_nul(request, message) or {"non_field_errors": [message]}
                return JsonResponse(
                    {"error": {"status": 400, "code": "invalid", "message": message, "fields": fields}}, status=400
                )
            return HttpResponseBadRequest(message)
        return self.get_response(request)

    def holds_nul(self, request):
        if "\x00" in request.path or self.form_holds_nul(request.GET):
            return True
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return False
        try:
            if request.content_type in self.FORMS:
                return self.form_holds_nul(request.POST)
            # JSON, JSONL, or a raw body a view reads as text.
            body = request.body
            # The plain search finds no escape in almost every body and is fast; the pattern,
            # which tells an escaped NUL from an escaped backslash before "u0000", scans a
            # 5 MB body in about 160 ms, so it runs only when the plain search finds one.
            return b"\x00" in body or (b"\\u0000" in body and self.JSON_NUL.search(body) is not None)
        except (RequestDataTooBig, MultiPartParserError):
            # The view answers these itself (413, 400 in the API).
            return False

    @staticmethod
    def fields_with_nul(request, message):
        """The top-level fields of a JSON object body that hold a NUL, each with message, as other 400s name them."""
        if request.method in ("GET", "HEAD", "OPTIONS") or request.content_type in RefuseNulMiddleware.FORMS:
            return {}
        try:
            data = json.loads(request.body)
        except (ValueError, RequestDataTooBig):
            return {}

        def holds(value):
            if isinstance(value, str):
                return "\x00" in value
            if isinstance(value, dict):
                return any(holds(key) or holds(item) for key, item in value.items())
            if isinstance(value, list):
                return any(holds(item) for item in value)
            return False

        if not isinstance(data, dict):
            return {}
        return {key: [message] for key, value in data.items() if holds(key) or holds(value)}

    @staticmethod
    def form_holds_nul(form):
        return any("\x00" in key or any("\x00" in value for value in values) for key, values in form.lists())
