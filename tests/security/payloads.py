"""Script-injection payloads, each calling a marker that names the payload and the field it sits in.

A payload is a template in which `{m}` becomes a marker such as `p07-title`: payload 7 in a
document title. When any of them runs, it calls `window.__xss("p07-title")` (or alert()s it), so
a failing test says which payload got through and from which field.
"""
PAYLOADS = [
    "<script>window.__xss('{m}')</script>",
    "\"><img src=x onerror=window.__xss('{m}')>",
    "<svg onload=window.__xss('{m}')>",
    "javascript:window.__xss('{m}')",
    "</textarea><script>window.__xss('{m}')</script>",
    "'-alert('{m}')-'",
    "{{{{7*7}}}}{m}",
    "${{alert('{m}')}}${{7*7}}{m}",
    "</script><script>window.__xss('{m}')</script>",
    "<iframe srcdoc=\"<script>parent.__xss('{m}')</script>\"></iframe>",
    "<div style=\"width:expression(window.__xss('{m}'))\">{m}</div>",
    "<a href=\"data:text/html,<script>parent.__xss('{m}')</script>\">data-{m}</a>",
    "<object data=\"data:text/html,<script>parent.__xss('{m}')</script>\"></object>",
    "\\u003cscript\\u003ewindow.__xss('{m}')\\u003c/script\\u003e",
    "<math><mtext><table><mglyph><style><img src=x onerror=window.__xss('{m}')>",
    "<img src=x onerror=\"window.__xss('{m}')\">",
    "<body onload=window.__xss('{m}')>",
    "<details open ontoggle=window.__xss('{m}')>",
    "<input autofocus onfocus=window.__xss('{m}')>",
    "<a href=\"javascript:window.__xss('{m}')\">link-{m}</a>",
    "<svg><script>window.__xss('{m}')</script></svg>",
    "<svg><a xlink:href=\"javascript:window.__xss('{m}')\"><text x=\"9\" y=\"9\">{m}</text></a></svg>",
    "<svg><animate onbegin=window.__xss('{m}') attributeName=x dur=1s>",
    "<video><source onerror=\"window.__xss('{m}')\"></video>",
    "<form><button formaction=javascript:window.__xss('{m}')>{m}</button></form>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:window.__xss('{m}')\">",
    "<base href=\"javascript:window.__xss('{m}')//\">",
    "\" onmouseover=\"window.__xss('{m}')\" autofocus onfocus=\"window.__xss('{m}')\" x=\"",
    "' onmouseover='window.__xss(`{m}`)' autofocus onfocus='window.__xss(`{m}`)' x='",
    "<noscript><p title=\"</noscript><img src=x onerror=window.__xss('{m}')>\">",
    "<xss-canary-{m}></xss-canary-{m}>",
    "&lt;script&gt;window.__xss('{m}')&lt;/script&gt;",
    "%3Cscript%3Ewindow.__xss('{m}')%3C/script%3E",
    "<scr<script>ipt>window.__xss('{m}')</scr</script>ipt>",
    "<IMG SRC=JaVaScRiPt:window.__xss('{m}')>",
    "<img src=x:x onerror=alert('{m}')>",
    "<svg/onload=alert('{m}')>",
    "<style>@import 'javascript:window.__xss(\"{m}\")';</style>",
]

# Payloads that fit a file name: no path separators.
FILE_NAME_PAYLOADS = [i for i, p in enumerate(PAYLOADS) if "/" not in p and "\\" not in p]


def marker(index, field):
    return f"p{index:02d}-{field}"


def payload(index, field):
    return PAYLOADS[index].format(m=marker(index, field))


def every(field, limit=None):
    """Every payload for one field, each alone; those longer than `limit` are left to `packed`."""
    values = [payload(i, field) for i in range(len(PAYLOADS))]
    return [v for v in values if limit is None or len(v) <= limit]


def packed(field, limit, start=0):
    """Payloads joined with spaces into values of at most `limit` characters, covering every payload."""
    values, current = [], ""
    for i in range(len(PAYLOADS)):
        index = (start + i) % len(PAYLOADS)
        piece = payload(index, field)
        if len(piece) > limit:
            continue
        if current and len(current) + 1 + len(piece) > limit:
            values.append(current)
            current = ""
        current = f"{current} {piece}" if current else piece
    if current:
        values.append(current)
    return values


def markers_in(text):
    """The markers that occur in some text."""
    import re

    return set(re.findall(r"p\d\d-[a-z0-9_]+", text))
