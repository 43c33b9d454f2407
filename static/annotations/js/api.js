// JSON calls to the REST API under the session, with Django's CSRF header.

export class ApiError extends Error {
  constructor(status, body, fallback) {
    const error = (body && body.error) || {};
    super(error.message || fallback || `The server answered ${status}.`);
    this.status = status;
    this.code = error.code || (status === 0 ? "network" : "error");
    this.fields = error.fields || {};
    this.items = error.items || [];
    this.currentVersion = error.current_version ?? null;
    this.body = body;
  }

  // One line for the reviewer: the message plus each field's complaint.
  describe() {
    const details = Object.entries(this.fields).map(([field, problems]) => {
      const text = Array.isArray(problems) ? problems.join(" ") : String(problems);
      return `${field}: ${text}`;
    });
    return details.length ? `${this.message} (${details.join("; ")})` : this.message;
  }
}

function describeStatus(status) {
  if (status >= 500) return `The server failed (${status}); nothing was saved.`;
  if (status === 403) return "The server refused this (403): you may have been logged out.";
  if (status === 404) return "Not found (404): it may have been deleted.";
  return `The server refused this (${status}).`;
}

export function createApi(root, csrfToken) {
  async function send(method, path, body, keepalive) {
    const headers = { Accept: "application/json", "X-CSRFToken": csrfToken };
    const init = { method, headers, credentials: "same-origin", keepalive };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    try {
      return await fetch(root + path, init);
    } catch {
      throw new ApiError(0, null, "Network error: the server could not be reached; nothing was saved.");
    }
  }

  async function readJson(response) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }

  async function request(method, path, body, { keepalive = false } = {}) {
    const response = await send(method, path, body, keepalive);
    if (response.status === 204) return null;
    const data = await readJson(response);
    if (!response.ok) throw new ApiError(response.status, data, describeStatus(response.status));
    return data;
  }

  // A success as soon as its status and headers arrive, as { headers, body }, body being a
  // promise of the parsed JSON (null if unreadable); a refusal is thrown as request() throws it.
  // For a save whose headers already say what the page needs (Location, ETag).
  async function early(method, path, body) {
    const response = await send(method, path, body, false);
    if (!response.ok) {
      throw new ApiError(response.status, await readJson(response), describeStatus(response.status));
    }
    return { headers: response.headers, body: readJson(response) };
  }

  return {
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, body),
    patch: (path, body) => request("PATCH", path, body),
    delete: (path, body, options) => request("DELETE", path, body, options),
    postEarly: (path, body) => early("POST", path, body),
    patchEarly: (path, body) => early("PATCH", path, body),
  };
}
