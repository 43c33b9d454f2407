"""Steps the browser tests share: log in, open the workbench, select text with the mouse."""
import json

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore


def log_in(page, live_server, user):
    """Give the browser a session for user without going through the form (that has its own test)."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    page.context.add_cookies([{
        "name": settings.SESSION_COOKIE_NAME, "value": session.session_key,
        "url": live_server.url,
    }])


def open_workbench(page, document, query=""):
    page.goto(f"/documents/{document.pk}/{query}")
    page.wait_for_selector("#workbench.is-ready")


SELECT_POINTS = """([quote, occurrence]) => {
  const text = JSON.parse(document.getElementById("document-text").textContent);
  let at = -1;
  for (let i = 0; i <= occurrence; i += 1) at = text.indexOf(quote, at + 1);
  if (at < 0) throw new Error("quote not in the text: " + quote);
  const end = at + quote.length;
  const box = document.getElementById("doc-text");
  const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
  const nodes = [];
  let seen = 0;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) { nodes.push([node, seen]); seen += node.length; }
  const locate = (u, before) => {
    for (const [node, start] of nodes) {
      if (before ? (u > start && u <= start + node.length) : (u >= start && u < start + node.length)) return [node, u - start];
    }
    throw new Error("offset outside the text");
  };
  // The box of the whole user-perceived character (a combining mark has no box of its own).
  const graphemes = new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text);
  const box_of = (u) => {
    const g = graphemes.containing(u);
    const range = document.createRange();
    const [n1, o1] = locate(g.index, false);
    const [n2, o2] = locate(g.index + g.segment.length, true);
    range.setStart(n1, o1);
    range.setEnd(n2, o2);
    const rects = Array.from(range.getClientRects()).filter((r) => r.width > 0);
    return rects[rects.length - 1];
  };
  const first = box_of(at);
  const last = box_of(end - 1);
  return {x1: first.left + 1, y1: first.top + first.height / 2, x2: last.right - 1, y2: last.top + last.height / 2};
}"""


def drag_select(page, quote, occurrence=0):
    """Select the occurrence-th copy of quote in the text by dragging the mouse across it."""
    points = page.evaluate(SELECT_POINTS, [quote, occurrence])
    page.mouse.move(points["x1"], points["y1"])
    page.mouse.down()
    page.mouse.move((points["x1"] + points["x2"]) / 2, (points["y1"] + points["y2"]) / 2, steps=3)
    page.mouse.move(points["x2"], points["y2"], steps=3)
    page.mouse.up()


def click_text(page, quote, occurrence=0):
    """Click the middle of the first character of quote."""
    points = page.evaluate(SELECT_POINTS, [quote, occurrence])
    page.mouse.click(points["x1"] + 2, points["y1"])


def embedded_spans(page):
    return json.loads(page.text_content("#spans-data"))
