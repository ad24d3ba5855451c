"use strict";
const state = { token: sessionStorage.getItem("warden-token") || "", app: null, trace: null, deciding: false };

async function api(path, method = "GET", payload = undefined) {
  const init = { method, headers: { "Authorization": "Bearer " + state.token } };
  if (payload !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(payload); }
  const r = await fetch(path, init);
  const body = await r.json().catch(() => ({}));
  if (!r.ok) { const e = new Error(body.error || ("HTTP " + r.status)); e.status = r.status; throw e; }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

const ms = us => us >= 1e6 ? (us / 1e6).toFixed(2) + " s" : (us / 1e3).toFixed(2) + " ms";

function quotaBars(quota) {
  const wrap = el("div");
  for (const q of quota) {
    // A quota of 0 is a limit (nothing allowed), not the absence of one.
    if (q.limit === null || q.limit === undefined) continue;
    const share = q.limit === 0 ? 1 : Math.min(1, q.used / q.limit);
    const fill = el("div", { class: share > 0.8 ? "high" : "", style: "width:" + (share * 100).toFixed(1) + "%" });
    wrap.append(el("div", { class: "quota", title: "resets " + q.resets_at }, el("span", {}, q.quota), el("div", { class: "meter" }, fill), el("span", {}, q.used + " / " + q.limit)));
  }
  if (!wrap.childElementCount) wrap.append(el("span", { class: "muted" }, "no limits"));
  return wrap;
}

// Kill and unkill, for admins: the reason is required and audited.
function switchButtons(a) {
  if (state.role !== "admin" || a.state === "retired") return el("td", {});
  const act = async (event, verb) => {
    event.stopPropagation();
    const note = document.getElementById("switch-result");
    const reason = document.getElementById("kill-reason").value.trim();
    if (verb === "kill" && !reason) { note.textContent = "say why in the reason field first"; return; }
    try {
      await api(`/v1/apps/${encodeURIComponent(a.name)}/${verb}`, "POST", verb === "kill" ? { reason } : undefined);
      note.textContent = `${a.name}: ${verb === "kill" ? "killed" : "running again"}`;
      await loadApps();
    } catch (e) { note.textContent = e.message; }
  };
  return el("td", {}, a.state === "killed"
    ? el("button", { class: "unkill", onclick: e => act(e, "unkill") }, "Unkill")
    : el("button", { class: "kill", onclick: e => act(e, "kill") }, "Kill"));
}

// Each app's last incident drill (`warden drill`), from the audit log:
// what admins and auditors may read.
async function lastDrills() {
  if (!mayAudit()) return null;
  const data = await api("/v1/audit?kind=app.drilled&limit=10000");
  const last = new Map();
  for (const e of data.entries) last.set(e.app, e);
  return last;
}

function drillCell(drills, name) {
  if (drills === null) return el("td", { class: "drill muted", title: "admins and auditors see drills" }, "-");
  const e = drills.get(name);
  if (!e) return el("td", { class: "drill muted", title: "never drilled: warden drill " + name }, "never");
  const checks = (e.details.checks || []).map(c => `${c.result}: ${c.check}`).join("\n");
  const when = e.time.replace("T", " ").replace(/(\.\d+)?Z$/, "Z");
  return el("td", { class: "drill " + (e.details.passed ? "drill-passed" : "drill-failed"), title: `by ${e.actor}\n${checks}` },
    `${e.details.passed ? "passed" : "FAILED"} ${when}`);
}

// An app's state, with what needs someone: orphaned (its owner left, or
// nobody uses it) and credentials past their rotation.
function stateCell(a) {
  const orphaned = a.orphaned_because || [], stale = a.stale_credentials || [];
  const notes = [...orphaned, ...stale.map(s => `credential ${s} is past its rotate_every: warden secrets set ${s}`)];
  const flags = (orphaned.length ? " · orphaned" : "") + (stale.length ? " · rotate " + stale.join(", ") : "");
  return el("td", { class: "state-" + a.state + (flags ? " flagged" : ""), title: notes.join("\n") }, a.state + flags);
}

async function loadApps() {
  const [top, drills] = await Promise.all([api("/v1/top"), lastDrills()]);
  const body = document.getElementById("apps");
  body.replaceChildren();
  for (const a of top.apps) {
    const row = el("tr", { "data-app": a.name, class: a.name === state.app ? "selected" : "", onclick: () => selectApp(a.name) },
      el("td", {}, a.name), el("td", {}, a.version), stateCell(a),
      el("td", {}, a.in_flight ?? "-"), el("td", {}, a.last_minute.invocations), el("td", {}, a.last_minute.errors),
      el("td", {}, ms(a.last_minute.p50_us)), el("td", {}, ms(a.last_minute.p99_us)), el("td", {}, quotaBars(a.quota)),
      drillCell(drills, a.name), switchButtons(a));
    body.append(row);
  }
  document.getElementById("switches").hidden = state.role !== "admin";
  document.getElementById("apps-section").hidden = false;
}

function drawWaterfall(trace) {
  const box = document.getElementById("waterfall");
  box.replaceChildren();
  const spans = trace.spans.slice().sort((a, b) => a.start_us - b.start_us);
  const ids = new Set(spans.map(s => s.span_id));
  const start = Math.min(...spans.map(s => s.start_us));
  const end = Math.max(...spans.map(s => s.start_us + s.duration_us));
  const total = Math.max(1, end - start);
  const depth = new Map();
  const depthOf = s => {
    if (depth.has(s.span_id)) return depth.get(s.span_id);
    const parent = spans.find(p => p.span_id === s.parent_id);
    const d = parent && ids.has(parent.span_id) ? depthOf(parent) + 1 : 0;
    depth.set(s.span_id, d);
    return d;
  };
  for (const s of spans) {
    const left = ((s.start_us - start) / total) * 100, width = (s.duration_us / total) * 100;
    const failed = s.outcome && s.outcome !== "ok";
    const bar = el("div", { class: "span-bar" + (failed ? " error" : ""), style: `left:${left}%;width:${width}%`, title: JSON.stringify(s.attributes) });
    box.append(el("div", { class: "row" },
      el("span", { style: "padding-left:" + depthOf(s) * 14 + "px" }, s.name + (s.outcome ? " · " + s.outcome : "")),
      el("div", { class: "track" }, bar), el("span", { class: "muted" }, ms(s.duration_us))));
  }
}

async function loadTraces() {
  const data = await api(`/v1/apps/${encodeURIComponent(state.app)}/traces?limit=15`);
  const list = document.getElementById("traces-list");
  list.replaceChildren();
  if (!data.traces.length) { document.getElementById("waterfall").replaceChildren(el("p", { class: "muted" }, "no traces yet")); return; }
  const chosen = data.traces.find(t => t.trace_id === state.trace) || data.traces[0];
  state.trace = chosen.trace_id;
  for (const t of data.traces) {
    const cls = (t.outcome !== "ok" ? "error " : "") + (t.trace_id === state.trace ? "selected" : "");
    list.append(el("button", { class: cls, onclick: () => { state.trace = t.trace_id; loadTraces(); } },
      new Date(t.start_us / 1000).toLocaleTimeString() + " " + t.outcome + " " + ms(t.duration_us)));
  }
  drawWaterfall(chosen);
  const root = chosen.spans.find(s => s.name === "invocation") || {};
  const attrs = root.attributes || {};
  const facts = [];
  if (attrs["warden.request_id"]) facts.push("request " + attrs["warden.request_id"]);
  if (attrs["warden.error"]) facts.push("error: " + attrs["warden.error"]);
  const box = document.getElementById("trace-facts");
  box.textContent = facts.join(" · ");
  box.className = attrs["warden.error"] ? "state-killed" : "muted";
}

async function loadUsage() {
  const data = await api(`/v1/apps/${encodeURIComponent(state.app)}/usage?minutes=60`);
  const buckets = data.buckets, w = 600, h = 120, bw = w / Math.max(1, buckets.length);
  const max = Math.max(1, ...buckets.map(b => b.invocations));
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h + 16}`);
  svg.setAttribute("preserveAspectRatio", "none");
  buckets.forEach((b, i) => {
    for (const [cls, value] of [["bar", b.invocations], ["errors", b.errors]]) {
      if (!value) continue;
      const r = document.createElementNS(ns, "rect");
      const bh = (value / max) * h;
      r.setAttribute("class", cls); r.setAttribute("x", i * bw + 1); r.setAttribute("width", Math.max(1, bw - 2));
      r.setAttribute("y", h - bh); r.setAttribute("height", bh);
      const title = document.createElementNS(ns, "title");
      title.textContent = `${new Date(b.start_us / 1000).toLocaleTimeString()}: ${b.invocations} invocations, ${b.errors} errors, p99 ${ms(b.p99_us)}`;
      r.append(title); svg.append(r);
    }
  });
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", 2); label.setAttribute("y", h + 14); label.setAttribute("font-size", "11"); label.setAttribute("fill", "#6b7385");
  label.textContent = `peak ${max}/min`;
  svg.append(label);
  document.getElementById("usage-chart").replaceChildren(svg);
  document.getElementById("usage").hidden = false;
}

const mayAudit = () => state.role === "admin" || state.role === "auditor";

// The chain's signed checkpoints, as `warden audit verify` sees them:
// checked again when the log grew, and at least every minute (a tail cut
// shows with time, not with new entries).
async function loadCheckpoint(head) {
  const line = document.getElementById("audit-checkpoint");
  if (head === state.checkedHead && Date.now() - (state.checkedAt || 0) < 60000) return;
  let status, text;
  try {
    const r = await api("/v1/audit/verify");
    const c = r.checkpoints || {};
    const last = c.last ? `last checkpoint #${c.last[0]} signed ${c.last[1]}` : "";
    const since = n => `${n} ${n === 1 ? "entry" : "entries"} since`;
    if (r.problem) { status = "tampered"; text = `TAMPERED: the hash chain breaks at line ${r.problem.line}: ${r.problem.reason}`; }
    else if (c.checked === false) { status = "not_checked"; text = `checkpoints NOT CHECKED: ${c.why}`; }
    else if (c.problem && c.problem.kind === "rewritten") { status = "rewritten"; text = `REWRITTEN: the checkpoint at #${c.problem.seq} does not verify: ${c.problem.reason}`; }
    else if (c.problem) { status = "tail_cut"; text = `TAIL CUT: ${c.problem.reason}`; }
    else if (!c.checkpoints) { status = "none"; text = `no signed checkpoint yet (${since(c.unsigned || 0)})`; }
    else { status = "verified"; text = `✓ ${c.checkpoints} signed ${c.checkpoints === 1 ? "checkpoint verifies" : "checkpoints verify"}; ${last}; ${since(c.unsigned)}`; }
  } catch (e) { status = "unknown"; text = "checkpoints not checked: " + e.message; }
  line.dataset.status = status;
  line.className = status === "verified" ? "verified" : status === "none" || status === "unknown" ? "muted" : "failed";
  line.textContent = text;
  state.checkedHead = head; state.checkedAt = Date.now();
}

async function loadAudit() {
  const list = document.getElementById("audit-list");
  if (!mayAudit()) {
    // Not asked for at all: the answer would be a 403.
    list.replaceChildren(el("li", { class: "muted" }, "your role may not read the audit log"));
    document.getElementById("audit").hidden = false;
    return;
  }
  try {
    const data = await api("/v1/audit?limit=25");
    list.replaceChildren(...data.entries.slice().reverse().map(e =>
      el("li", {}, `${e.time} ${e.kind} ${e.app ? "· " + e.app + " " : ""}by ${e.actor}`)));
    if (!data.intact) list.prepend(el("li", { class: "state-killed" }, "the audit chain does not verify"));
    const last = data.entries[data.entries.length - 1];
    await loadCheckpoint(last ? last.seq : 0);
  } catch (e) {
    list.replaceChildren(el("li", { class: "muted" }, e.status === 403 ? "your role may not read the audit log" : e.message));
  }
  document.getElementById("audit").hidden = false;
}

// One change as a line: "+ path: value", "- path: value", "~ path: …".
function changeLine(c) {
  const v = x => Array.isArray(x) ? (x.length ? x.join(", ") : "none") : JSON.stringify(x);
  if (c.change === "added") return "+ " + c.path + ": " + v(c.this);
  if (c.change === "removed") return "- " + c.path + ": " + v(c.live);
  if (Array.isArray(c.this)) return "~ " + c.path + ": added " + v(c.this) + "; removed " + v(c.live);
  return "~ " + c.path + ": " + v(c.live) + " → " + v(c.this);
}

// Pending deploys with why they are held and what changed from the live
// version; a reviewer approves or rejects exactly the deploy shown.
async function loadReviews() {
  // Not while a decision is in flight: the rebuilt card's buttons would
  // be live again, and a second click would report the first as failed.
  if (state.deciding) return;
  const box = document.getElementById("reviews-list");
  const queue = await api("/v1/reviews");
  const cards = [];
  for (const d of queue.pending) {
    const shown = await api(`/v1/apps/${encodeURIComponent(d.app)}/versions/${encodeURIComponent(d.version)}`);
    const card = el("div", { class: "review", "data-app": d.app, "data-deploy": String(d.id) },
      el("h3", {}, `${d.app} ${d.version}`, el("span", { class: "muted" }, ` deploy ${d.id} by ${d.deployed_by}`)),
      el("div", { class: "muted" }, "component sha256:" + shown.component_sha256));
    card.append(el("div", {}, "held because:"),
      el("ul", { class: "reasons" }, ...shown.reasons.map(r => el("li", {}, r))));
    const changes = shown.changes_from_live;
    card.append(el("div", {}, shown.live ? `changes from live ${shown.live.version}:` : "first version:"),
      el("ul", { class: "changes" }, ...(changes.length ? changes.map(c => el("li", {}, changeLine(c))) : [el("li", { class: "muted" }, "none")])));
    if (state.role === "reviewer") {
      const note = el("input", { class: "note", placeholder: "note (required to reject)" });
      // The outcome goes above the queue, not on the card: the refresh that
      // follows (or the periodic one) replaces the card, and the reviewer
      // must still see what their click did.
      // The controls are off while a decision is in flight: a second
      // click would fail ("no pending deploy") and overwrite the outcome
      // of the first with an error.
      const result = document.getElementById("review-result");
      const controls = [note];
      const act = async (verb) => {
        controls.forEach(c => { c.disabled = true; });
        state.deciding = true;
        try {
          const payload = { deploy: d.id, note: note.value };
          if (verb === "approve") payload.digest = shown.component_sha256;
          const done = await api(`/v1/apps/${encodeURIComponent(d.app)}/${verb}`, "POST", payload);
          result.className = "muted";
          result.textContent = `${d.app} ${d.version}: ${verb === "approve" ? "approved, now " + done.status : "rejected"}`
            + (done.attestation_error ? `; its attestation was not written: ${done.attestation_error}` : "");
          state.deciding = false;
          await refresh();
        } catch (e) {
          state.deciding = false;
          result.className = "error";
          result.textContent = `${d.app} ${d.version}: could not ${verb}: ${e.message}`;
          controls.forEach(c => { c.disabled = false; });
        }
      };
      controls.push(el("button", { class: "approve", onclick: () => act("approve") }, "Approve"),
        el("button", { class: "reject", onclick: () => act("reject") }, "Reject"));
      card.append(el("div", { class: "actions" }, ...controls));
    }
    cards.push(card);
  }
  box.replaceChildren(...(cards.length ? cards : [el("p", { class: "muted" }, "nothing waits for review")]));
  document.getElementById("reviews").hidden = false;
}

// The app's audit export, fetched with the token (a link could not carry
// it) and handed to the browser as a file download.
async function downloadExport() {
  const name = state.app;
  const result = document.getElementById("export-result");
  result.textContent = "preparing the export of " + name + "…";
  try {
    const r = await fetch(`/v1/apps/${encodeURIComponent(name)}/export`, { headers: { "Authorization": "Bearer " + state.token } });
    if (!r.ok) { const body = await r.json().catch(() => ({})); throw new Error(body.error || ("HTTP " + r.status)); }
    const blob = await r.blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: name + "-audit-export.tar" });
    document.body.append(link); link.click(); link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    result.textContent = `downloaded ${name}-audit-export.tar (${blob.size} bytes); check it with warden audit verify-export`;
  } catch (e) { result.textContent = "the export failed: " + e.message; }
}

async function selectApp(name) {
  state.app = name; state.trace = null;
  document.getElementById("detail-title").textContent = name + " — traces";
  document.getElementById("detail").hidden = false;
  document.getElementById("export-box").hidden = !mayAudit();
  for (const row of document.querySelectorAll("#apps tr")) row.classList.toggle("selected", row.dataset.app === name);
  await Promise.all([loadTraces(), loadUsage()]);
}

async function refresh() {
  try {
    const me = await api("/v1/whoami");
    state.role = me.role;
    document.getElementById("who").textContent = me.name + " (" + me.role + ")";
    await loadApps();
    await loadReviews();
    await loadAudit();
    if (state.app) await Promise.all([loadTraces(), loadUsage()]);
    document.getElementById("login").hidden = true;
  } catch (e) {
    if (e.status === 401) { sessionStorage.removeItem("warden-token"); showLogin(e.message); }
  }
}

async function showLogin(message) {
  document.getElementById("login").hidden = false;
  document.getElementById("login-error").textContent = message || "";
  const config = await fetch("/v1/oidc/config").then(r => r.json()).catch(() => ({}));
  if (config.enabled) {
    state.oidc = config;
    document.getElementById("oidc").hidden = false;
  }
}

const b64url = bytes => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const redirectUri = () => location.origin + "/dashboard";

// Sign-in with the identity provider: authorization code with PKCE (S256).
async function signIn() {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  const nonce = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem("warden-pkce", JSON.stringify({ verifier, state: nonce }));
  const url = new URL(state.oidc.authorization_endpoint);
  for (const [k, v] of Object.entries({
    response_type: "code", client_id: state.oidc.client_id, redirect_uri: redirectUri(),
    scope: state.oidc.scopes, state: nonce, code_challenge: b64url(new Uint8Array(digest)), code_challenge_method: "S256",
  })) url.searchParams.set(k, v);
  location.assign(url.toString());
}

// Back from the provider: the code is exchanged (by Warden) for the token.
async function finishSignIn(params) {
  const saved = JSON.parse(sessionStorage.getItem("warden-pkce") || "{}");
  sessionStorage.removeItem("warden-pkce");
  history.replaceState(null, "", "/dashboard");
  if (!saved.verifier || params.get("state") !== saved.state) { showLogin("the sign-in did not start here; try again"); return; }
  try {
    const answer = await fetch("/v1/oidc/token", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code: params.get("code"), code_verifier: saved.verifier, redirect_uri: redirectUri() }),
    });
    const body = await answer.json().catch(() => ({}));
    if (!answer.ok) { showLogin(body.error || "sign-in refused"); return; }
    state.token = body.id_token;
    sessionStorage.setItem("warden-token", state.token);
    refresh();
  } catch (e) { showLogin(e.message); }
}

document.getElementById("connect").addEventListener("click", () => {
  state.token = document.getElementById("token").value.trim();
  sessionStorage.setItem("warden-token", state.token);
  refresh();
});
document.getElementById("oidc-login").addEventListener("click", signIn);
document.getElementById("export").addEventListener("click", downloadExport);

const params = new URLSearchParams(location.search);
if (params.has("code")) finishSignIn(params);
else if (params.has("error")) { history.replaceState(null, "", "/dashboard"); showLogin("the identity provider said: " + params.get("error")); }
else if (state.token) refresh(); else showLogin();
setInterval(() => { if (state.token) refresh(); }, 5000);
