"""The model-ops page, served by the serving worker at ``/ops/``.

One static HTML document; its script polls ``/api/overview`` (open, read-only) and draws,
for the busiest tenants: each tenant's models with roles and versions, a served-accuracy
sparkline with drift marks, and the last decisions. With the API token entered (kept in
the tab's sessionStorage only, checked against ``/api/auth``), it also offers promote and
retire buttons, which call the authenticated control API; without it the page is read-only.
"""

from __future__ import annotations

PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Rendezvous model ops</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.2em; color: #222; background: #fafafa; }
  header { display: flex; gap: 1em; align-items: baseline; flex-wrap: wrap; }
  h1 { font-size: 1.3em; margin: 0 0 .4em; }
  #status { color: #666; }
  #tenants { display: grid; grid-template-columns: repeat(auto-fill, minmax(580px, 1fr)); gap: 12px; }
  .tenant { overflow-x: auto; background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 8px 10px; }
  .tenant h2 { font-size: 1.05em; margin: 0; display: flex; justify-content: space-between; }
  .meta { color: #666; font-size: .85em; }
  table { border-collapse: collapse; width: 100%; margin: 4px 0; font-size: .85em; }
  th, td { text-align: left; padding: 1px 4px; border-bottom: 1px solid #eee; }
  .role-champion { font-weight: bold; color: #0a5; }
  .role-shadow { color: #888; }
  svg.sparkline { background: #f4f7fb; border: 1px solid #e3e8ef; }
  svg.sparkline polyline { fill: none; stroke: #2a6fdb; stroke-width: 1.5; }
  svg.sparkline line.drift { stroke: #d33; stroke-width: 1.5; stroke-dasharray: 3 2; }
  .events { font-size: .8em; color: #833; }
  button { font-size: .8em; }
  body[data-mode="read-only"] .op { display: none; }
</style>
</head>
<body data-mode="read-only">
<header>
  <h1>Rendezvous model ops</h1>
  <span id="status">loading…</span>
  <span>filter <input id="prefix" size="12" placeholder="tenant prefix"></span>
  <span>token <input id="token" type="password" size="18" placeholder="API token: read-only without">
  <button id="use-token">use</button></span>
  <span id="mode">read-only</span>
</header>
<div id="events" class="events"></div>
<div id="tenants"></div>
<script>
"use strict";
const W = 400, H = 48;
let token = sessionStorage.getItem("rendezvous-token") || "";

function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
function pct(x) { return x === null || x === undefined ? "–" : (100 * x).toFixed(1) + "%"; }

function sparkline(series, drift) {
  if (!series.length) return `<svg class="sparkline" width="${W}" height="${H}" data-points="0"></svg>`;
  const t0 = series[0][0], t1 = Math.max(series[series.length - 1][0], t0 + 1e-6);
  const x = t => series.length === 1 ? W / 2 : 2 + (W - 4) * (t - t0) / (t1 - t0);
  const y = a => H - 2 - (H - 4) * a;
  const pts = series.map(p => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
  const marks = drift.filter(d => d.detected_at >= t0 && d.detected_at <= t1).map(d =>
    `<line class="drift" x1="${x(d.detected_at).toFixed(1)}" x2="${x(d.detected_at).toFixed(1)}" y1="0" y2="${H}">` +
    `<title>drift ${esc(d.model)} ${esc(d.signal)}</title></line>`).join("");
  return `<svg class="sparkline" width="${W}" height="${H}" data-points="${series.length}" data-drift="${drift.length}">` +
         `<polyline points="${pts}"></polyline>${marks}</svg>`;
}

function modelRows(t) {
  return t.model_rows.map(m => `<tr data-model="${esc(m.name)}">` +
    `<td>${esc(m.name)}</td><td class="role role-${esc(m.role)}">${esc(m.role)}</td>` +
    `<td class="version">v${m.version}</td><td>${esc(m.spec)}</td><td>${esc(m.pool)}</td>` +
    `<td>${m.served.n}</td><td>${pct(m.served.accuracy)}</td><td>${m.scores.n}/${m.scores.errors}</td>` +
    `<td class="op">${m.role === "champion" ? "" :
      `<button data-cmd="promote" data-tenant="${esc(t.tenant)}" data-model="${esc(m.name)}">promote</button>` +
      `<button data-cmd="retire" data-tenant="${esc(t.tenant)}" data-model="${esc(m.name)}">retire</button>`}</td></tr>`).join("");
}

function decisionRows(t) {
  return t.decisions.slice(0, 5).map(d => `<tr><td>${esc(d.request_id)}</td><td>${esc(d.model ?? "default")}</td>` +
    `<td>${esc(d.reason)}</td><td>${esc(JSON.stringify(d.output))}</td><td>${d.latency_ms.toFixed(1)} ms</td></tr>`).join("");
}

function card(t) {
  const last = t.events[0];
  return `<section class="tenant" data-tenant="${esc(t.tenant)}">` +
    `<h2><span>${esc(t.tenant)}</span><span class="meta">deployment v${t.version ?? "–"} · ${esc(t.task ?? "")}</span></h2>` +
    `<div class="meta">${t.requests} requests · ${t.results} results · ${t.fallbacks} fallbacks · ` +
    `served accuracy ${pct(t.served.accuracy)} over ${t.served.n} labelled · ${t.drift.length} drift events</div>` +
    sparkline(t.series, t.drift) +
    `<table class="models"><tr><th>model</th><th>role</th><th>version</th><th>spec</th><th>pool</th>` +
    `<th>served</th><th>accuracy</th><th>scores/errors</th><th class="op"></th></tr>${modelRows(t)}</table>` +
    `<table class="decisions"><tr><th>last decisions</th><th>model</th><th>reason</th><th>output</th><th>latency</th></tr>${decisionRows(t)}</table>` +
    (last ? `<div class="events">${esc(last.kind)} ${esc(last.command ?? "")} ${esc(last.reason ?? "")}</div>` : "") +
    `</section>`;
}

async function refresh() {
  const prefix = document.getElementById("prefix").value;
  try {
    const r = await fetch(`/api/overview?limit=24&prefix=${encodeURIComponent(prefix)}`);
    const o = await r.json();
    document.getElementById("tenants").innerHTML = o.tenants.map(card).join("");
    document.getElementById("events").innerHTML = o.events.slice(0, 3).map(e =>
      `<div>${new Date(e.at * 1000).toLocaleTimeString()} ${esc(e.tenant)}: ${esc(e.kind)} ${esc(e.command ?? "")} ${esc(e.reason ?? "")}</div>`).join("");
    document.getElementById("status").textContent =
      `${o.env} · ${o.tenants.length} of ${o.total_tenants} tenants · ${new Date(o.at * 1000).toLocaleTimeString()}`;
    document.body.dataset.loaded = "1";
  } catch (e) {
    document.getElementById("status").textContent = "error: " + e;
  }
}

async function checkToken() {
  let ok = false;
  if (token) {
    const r = await fetch("/api/auth", {headers: {Authorization: "Bearer " + token}});
    ok = r.status === 200;
  }
  document.body.dataset.mode = ok ? "operator" : "read-only";
  document.getElementById("mode").textContent = ok ? "operator" : (token ? "token refused: read-only" : "read-only");
}

document.getElementById("use-token").addEventListener("click", async () => {
  token = document.getElementById("token").value;
  sessionStorage.setItem("rendezvous-token", token);
  await checkToken();
});

document.getElementById("tenants").addEventListener("click", async ev => {
  const b = ev.target.closest("button[data-cmd]");
  if (!b || document.body.dataset.mode !== "operator") return;
  const r = await fetch(`/api/tenants/${encodeURIComponent(b.dataset.tenant)}/${b.dataset.cmd}`, {
    method: "POST", headers: {Authorization: "Bearer " + token, "Content-Type": "application/json"},
    body: JSON.stringify({model: b.dataset.model})});
  const body = await r.json();
  document.getElementById("events").textContent = r.ok ? `${b.dataset.cmd} ${b.dataset.model}: ${body.status}` : `${r.status}: ${body.error}`;
  refresh();
});

checkToken();
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
"""


def attach(rt) -> None:
    from faust.web import View

    @rt.app.page("/ops/", name="ops-page")
    class OpsPage(View):
        async def get(self, request):
            return self.html(PAGE)
