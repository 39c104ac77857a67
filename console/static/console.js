// The console shell's script: the JSON API helper every page uses (CSRF header, login redirect) and
// the logout button. Pages add their own script after this one.
"use strict";

(function () {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const csrfToken = meta ? meta.getAttribute("content") : "";

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // FastAPI's error bodies: {"detail": "text"} or, for invalid input, {"detail": [{loc, msg}, ...]}.
  function errorText(status, body) {
    const detail = body && body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
    }
    return `request failed (${status})`;
  }

  // fetch() for the console's JSON API: state-changing requests carry the session's CSRF token; an
  // expired session sends the page back to the login form.
  async function api(method, url, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = csrfToken;
    const init = { method, headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(url, init);
    if (response.status === 401) {
      window.location.assign(`/login?next=${encodeURIComponent(window.location.pathname)}`);
      throw new ApiError(401, "login required");
    }
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, errorText(response.status, data));
    return data;
  }

  window.ShopcueConsole = { api, ApiError };

  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      try {
        await api("POST", "/logout");
      } finally {
        window.location.assign("/login");
      }
    });
  }
})();
