// tools/httpd/www/app.js: the Tsubame web page's logic. Talks to the JSON API with a bearer
// token kept in sessionStorage (gone when the tab closes; no cookies, so no CSRF surface).
// Every server string is inserted with textContent, never as HTML.
"use strict";

const state = { token: sessionStorage.getItem("tsubame.token"), me: null };

function $(id) { return document.getElementById(id); }

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (state.token) headers["Authorization"] = "Bearer " + state.token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401 && path !== "/api/login") { signedOut(); throw new Error("session expired"); }
  let data = null;
  if (res.status !== 204) { try { data = await res.json(); } catch (e) { data = null; } }
  if (!res.ok) throw new Error((data && data.error) || ("HTTP " + res.status));
  return data;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function button(label, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (cls) b.className = cls;
  b.addEventListener("click", onClick);
  return b;
}

function size(n) { return n < 1024 ? n + " B" : n < 1048576 ? (n / 1024).toFixed(1) + " KB" : (n / 1048576).toFixed(1) + " MB"; }

function signedOut() {
  state.token = null; state.me = null;
  sessionStorage.removeItem("tsubame.token");
  $("login-view").hidden = false; $("inbox-view").hidden = true; $("whoami").hidden = true;
}

async function signedIn() {
  state.me = await api("GET", "/api/me");
  $("user-address").textContent = state.me.address;
  $("whoami").hidden = false; $("login-view").hidden = true; $("inbox-view").hidden = false;
  $("tab-quarantine").hidden = !state.me.admin;
  showTab("inbox");
}

function showTab(name) {
  $("inbox-panel").hidden = name !== "inbox";
  $("quarantine-panel").hidden = name !== "quarantine";
  $("tab-inbox").classList.toggle("active", name === "inbox");
  $("tab-quarantine").classList.toggle("active", name === "quarantine");
  if (name === "inbox") loadInbox(); else loadQuarantine();
}

async function loadInbox() {
  const rows = $("inbox-rows");
  $("inbox-status").textContent = "Loading…";
  try {
    const data = await api("GET", "/api/messages?mailbox=INBOX");
    rows.replaceChildren();
    for (const m of data.messages) {
      const tr = document.createElement("tr");
      tr.dataset.uid = m.uid;
      if (m.reported) tr.className = "reported";
      cell(tr, m.from); cell(tr, m.subject || "(no subject)"); cell(tr, m.date); cell(tr, size(m.size));
      const td = cell(tr, "");
      if (m.reported === "spam") {
        td.textContent = "Reported";
      } else {
        td.appendChild(button("Report spam", "danger report-spam", () => report(m.uid, tr, td)));
      }
      rows.appendChild(tr);
    }
    $("inbox-status").textContent = data.messages.length ? "" : "No messages.";
  } catch (e) { $("inbox-status").textContent = "Could not load the inbox: " + e.message; }
}

async function report(uid, tr, td) {
  try {
    await api("POST", "/api/report", { mailbox: "INBOX", uid: uid, kind: "spam" });
    td.textContent = "Reported";
    tr.className = "reported";
  } catch (e) { $("inbox-status").textContent = "Report failed: " + e.message; }
}

async function loadQuarantine() {
  const rows = $("quarantine-rows");
  $("quarantine-status").textContent = "Loading…";
  try {
    const data = await api("GET", "/api/quarantine?status=" + encodeURIComponent($("quarantine-filter").value));
    rows.replaceChildren();
    for (const r of data.reports) {
      const tr = document.createElement("tr");
      tr.dataset.reportId = r.id;
      cell(tr, String(r.id)); cell(tr, r.reporter); cell(tr, r.kind); cell(tr, r.from);
      cell(tr, r.subject || "(no subject)"); cell(tr, new Date(r.time_ms).toLocaleString());
      const status = cell(tr, r.status);
      status.className = "report-status";
      const td = cell(tr, "");
      td.appendChild(button("Confirm spam", "ok decide-confirmed", () => decide(r.id, "confirmed", status)));
      td.appendChild(button("False report", "decide-false", () => decide(r.id, "false-report", status)));
      rows.appendChild(tr);
    }
    $("quarantine-status").textContent = data.reports.length ? "" : "Nothing to review.";
  } catch (e) { $("quarantine-status").textContent = "Could not load the quarantine: " + e.message; }
}

async function decide(id, decision, statusCell) {
  try {
    const r = await api("POST", "/api/quarantine/" + id + "/decide", { decision: decision });
    statusCell.textContent = r.status;
  } catch (e) { $("quarantine-status").textContent = "Decision failed: " + e.message; }
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("login-error").textContent = "";
    try {
      const r = await api("POST", "/api/login", { address: $("login-address").value, password: $("login-password").value });
      state.token = r.token;
      sessionStorage.setItem("tsubame.token", r.token);
      $("login-password").value = "";
      await signedIn();
    } catch (e) { $("login-error").textContent = "Sign-in failed: " + e.message; }
  });
  $("logout").addEventListener("click", async () => {
    try { await api("POST", "/api/logout"); } catch (e) { /* signed out anyway */ }
    signedOut();
  });
  $("tab-inbox").addEventListener("click", () => showTab("inbox"));
  $("tab-quarantine").addEventListener("click", () => showTab("quarantine"));
  $("quarantine-filter").addEventListener("change", loadQuarantine);
  if (state.token) signedIn().catch(signedOut); else signedOut();
});
