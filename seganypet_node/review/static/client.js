// How every page of the review service talks to the node: JSON over fetch with the session
// cookie, the login page when the session has ended, the CSRF token on every change.
"use strict";

let csrfToken = null; // from /api/session, set by the page once it has loaded

async function nodeJson(path, options) {
  const response = await fetch(path, Object.assign(
    { credentials: "same-origin", headers: { "Accept": "application/json" } }, options || {}));
  if (response.status === 401) {
    window.location.assign("/login");
    throw new Error("logged out");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || response.statusText);
  return body;
}

function nodePost(path, payload) {
  return nodeJson(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken,
               "Accept": "application/json" },
    body: JSON.stringify(payload || {}),
  });
}
