// The operator's dashboard: tables from the node's JSON operations, refreshed every few
// seconds; retry buttons send the session's CSRF token. No framework, no CDN.
"use strict";

const REFRESH_MS = 5000;

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  return td;
}

function shortUid(uid) {
  return uid.length <= 20 ? uid : "\u2026" + uid.slice(-19);
}

function when(iso) {
  return iso ? iso.replace("T", " ").slice(0, 19) : "";
}

function api(path, options) {
  return nodeJson("/api/" + path, options);
}

function change(path, payload) {
  return nodePost("/api/" + path, payload);
}

function actions(r) {
  if (r.job_state === "failed") {
    return retryButton("Retry job", () => change("jobs/" + r.job_id + "/retry"));
  }
  if (r.job_state !== "done") return cell("");
  const td = document.createElement("td");
  const picture = document.createElement("a");
  picture.href = "/api/jobs/" + r.job_id + "/key-image.png";
  picture.target = "_blank";
  picture.textContent = "key image";
  td.appendChild(picture);
  if (!r.verified_by) {
    const review = document.createElement("a");
    review.href = "/review/" + r.job_id;
    review.className = "review";
    review.textContent = "review";
    td.appendChild(review);
    const verify = retryButton("Verify", () => change("jobs/" + r.job_id + "/verify"));
    verify.firstChild.className = "verify";
    td.appendChild(verify.firstChild);
  }
  return td;
}

function retryButton(label, action) {
  const td = document.createElement("td");
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.className = "retry";
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await action();
      status(label === "Verify" ? "verified: the VERIFIED report is queued" : "queued again");
    } catch (error) {
      status("refused: " + error.message);
    }
    refresh();
  });
  td.appendChild(button);
  return td;
}

function status(text) {
  document.getElementById("status").textContent = text;
}

function seriesRows(rows) {
  const text = document.getElementById("text-filter").value.trim().toLowerCase();
  const body = document.querySelector("#series tbody");
  body.replaceChildren();
  const counts = {};
  for (const r of rows) {
    const note = r.skip_reason || r.last_error || r.note || "";
    const haystack = [r.study_uid, r.series_uid, r.calling_ae, note].join(" ").toLowerCase();
    if (text && !haystack.includes(text)) continue;
    counts[r.job_state || "no job"] = (counts[r.job_state || "no job"] || 0) + 1;
    const tr = document.createElement("tr");
    tr.className = "job-" + (r.job_state || "none");
    tr.dataset.jobId = r.job_id === null ? "" : r.job_id;
    const received = r.expected ? r.received + "/" + r.expected : String(r.received);
    const state = r.series_state + (r.completion_rule ? " (" + r.completion_rule + ")" : "");
    const t = r.transfers;
    const total = t.sent + t.pending + t.failed;
    const sent = total ? t.sent + "/" + total + " sent" + (t.failed ? ", " + t.failed + " failed" : "") : "-";
    tr.append(cell(shortUid(r.study_uid), "uid"), cell(shortUid(r.series_uid), "uid"),
              cell(r.modality), cell(received), cell(state), cell(r.calling_ae),
              cell(when(r.last_received_at)), cell(r.job_id), cell(r.job_state, "state"),
              cell(r.attempts), cell(sent), cell(r.verified_by || "", "verified"),
              cell(note, "note"));
    tr.children[0].title = r.study_uid;
    tr.children[1].title = r.series_uid;
    tr.append(actions(r));
    body.appendChild(tr);
  }
  document.getElementById("job-counts").textContent =
    Object.entries(counts).map(([k, n]) => n + " " + k).join(", ");
}

function transferRows(rows) {
  const body = document.querySelector("#transfers tbody");
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.className = "transfer-" + r.state;
    tr.append(cell(r.row_id), cell(r.job_id), cell(r.kind), cell(r.destination),
              cell(r.state, "state"), cell(r.attempts), cell(when(r.sent_at)),
              cell(r.last_error, "note"));
    tr.append(r.state === "failed"
      ? retryButton("Retry", () => change("transfers/retry", { ids: [r.row_id] }))
      : cell(""));
    body.appendChild(tr);
  }
}

function auditRows(rows) {
  const body = document.querySelector("#audit tbody");
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    tr.append(cell(when(r.at)), cell(r.user_name), cell(r.action), cell(r.job_id),
              cell(r.detail, "note"));
    body.appendChild(tr);
  }
}

async function refresh() {
  try {
    const jobState = document.getElementById("job-filter").value;
    const transferState = document.getElementById("transfer-filter").value;
    const [series, transfers, audit] = await Promise.all([
      api("series" + (jobState ? "?job_state=" + jobState : "")),
      api("transfers" + (transferState ? "?state=" + transferState : "")),
      api("audit?limit=50"),
    ]);
    seriesRows(series);
    transferRows(transfers);
    auditRows(audit);
    document.getElementById("refreshed").textContent =
      "updated " + new Date().toLocaleTimeString();
  } catch (error) {
    status("could not refresh: " + error.message);
  }
}

async function start() {
  const session = await api("session");
  csrfToken = session.csrf_token;
  for (const id of ["job-filter", "transfer-filter"]) {
    document.getElementById(id).addEventListener("change", refresh);
  }
  document.getElementById("text-filter").addEventListener("input", refresh);
  document.getElementById("retry-all-transfers").addEventListener("click", async () => {
    const done = await change("transfers/retry", { ids: [] });
    status(done.transfers + " failed transfer(s) queued again");
    refresh();
  });
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/logout", { method: "POST", credentials: "same-origin",
                              headers: { "X-CSRF-Token": csrfToken } });
    window.location.assign("/login");
  });
  await refresh();
  setInterval(refresh, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", start);
