from django.conf import settings


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
