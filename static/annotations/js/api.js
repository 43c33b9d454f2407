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
  async function request(method, path, body, { keepalive = false } = {}) {
    const headers = { Accept: "application/json", "X-CSRFToken": csrfToken };
    const init = { method, headers, credentials: "same-origin", keepalive };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(root + path, init);
    } catch {
      throw new ApiError(0, null, "Network error: the server could not be reached; nothing was saved.");
    }
    if (response.status === 204) return null;
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) throw new ApiError(response.status, data, describeStatus(response.status));
    return data;
  }

  return {
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, body),
    patch: (path, body) => request("PATCH", path, body),
    delete: (path, body, options) => request("DELETE", path, body, options),
  };
}
