/**
 * `GET /`: the admin page. Its tables (tenants, grants, the caller × target matrix, recent
 * denials) are rendered here, so they read without JavaScript; one inline script then
 * follows `/events?decision=denied` and prepends each new denial. Self-contained: no CDN,
 * no build step.
 */
import type { ServerResponse } from "node:http";
import type { Generation } from "../config/generation.js";
import type { RequestEvent } from "../live/event.js";
import type { LiveView } from "../live/index.js";
import type { MatrixCell } from "../live/stats.js";
import { escapeHtml, newNonce, row, sendPage, table, type Cell } from "./html.js";
import { PAGE_SCRIPT, PAGE_STYLE } from "./page-assets.js";

const DAY_MS = 86_400_000;

export function servePage(generation: Generation, live: LiveView, res: ServerResponse): void {
  const nonce = newNonce();
  const now = live.now();
  const service = escapeHtml(generation.config.service);
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Palisade · ${service}</title>
<link rel="icon" href="data:,">
<style nonce="${nonce}">${PAGE_STYLE}</style></head>
<body>
<header><h1>Palisade <span>${service}</span></h1>
<p>generation ${generation.id}, loaded ${escapeHtml(generation.loadedAt.toISOString())}</p></header>
<section><h2>Tenants</h2>${tenants(generation, now)}</section>
<section><h2>Grants</h2>${grants(generation, live, now)}</section>
<section><h2>Calls since start: caller × target</h2>
<p class="legend"><span class="allowed">allowed</span> · <span class="granted">granted</span> · <span class="denied">denied</span></p>
${matrix(generation, live.stats.matrix())}</section>
<section><h2>Denials</h2><p id="live-status">newest first; live updates need JavaScript</p>
${denials(live.feed.recentDenials())}</section>
<script nonce="${nonce}">${PAGE_SCRIPT}</script>
</body></html>
`;
  sendPage(res, nonce, html);
}

function tenants(generation: Generation, now: number): string {
  const rows = [...generation.tenants.values()].map((t) => {
    const left = Math.floor((t.expiresAt.getTime() - now) / DAY_MS);
    const state = t.revoked ? "revoked" : "active";
    return row([t.id, state, t.expiresAt.toISOString(), `${left} days`], ` class="${state}"`);
  });
  return table("tenants", ["tenant", "state", "certificate expires", "left"], rows);
}

function grants(generation: Generation, live: LiveView, now: number): string {
  const table_ = generation.grants;
  const rows = table_.grants.map((g) => {
    const state = g.mode === "audit" ? "audit" : now < g.expires ? "active" : "expired";
    return row(
      [
        g.id,
        `${g.from} → ${g.to}`,
        g.config.methods.join(" "),
        g.config.paths.join(" "),
        state,
        new Date(g.expires).toISOString(),
        live.stats.grantUses(g.id),
      ],
      ` class="${state}"`,
    );
  });
  for (const g of table_.omitted)
    rows.push(row([g.id, `${g.config.from} → ${g.config.to}`, "", "", g.reason, "", 0]));
  const headings = ["grant", "from → to", "methods", "paths", "state", "expires", "uses"];
  return table("grants", headings, rows);
}

/** Rows are callers, columns targets: configured tenants, then any other label seen. */
function matrix(generation: Generation, cells: readonly MatrixCell[]): string {
  const names = [...generation.tenants.keys()];
  for (const c of cells)
    for (const n of [c.caller, c.target]) if (!names.includes(n)) names.push(n);
  const byPair = new Map(cells.map((c) => [`${c.caller}\0${c.target}`, c]));
  const rows = names.map((caller) => {
    const tds = names.map((target) => {
      const c = byPair.get(`${caller}\0${target}`);
      const [a, g, d] = [c?.allowed ?? 0, c?.granted ?? 0, c?.denied ?? 0];
      const attrs = `data-caller="${escapeHtml(caller)}" data-target="${escapeHtml(target)}"`;
      const cls = d > 0 ? ` class="has-denied"` : "";
      return `<td ${attrs}${cls}><span class="allowed">${a}</span> · <span class="granted">${g}</span> · <span class="denied">${d}</span></td>`;
    });
    return `<tr><th scope="row">${escapeHtml(caller)}</th>${tds.join("")}</tr>`;
  });
  const head = names.map((n) => `<th scope="col">${escapeHtml(n)}</th>`).join("");
  return `<table id="matrix"><thead><tr><th>caller \\ target</th>${head}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

export const DENIAL_HEADINGS = [
  "time",
  "direction",
  "caller",
  "peer",
  "target",
  "request",
  "status",
  "code",
  "request id",
];

export function denialCells(e: RequestEvent): Cell[] {
  return [
    e.time,
    e.direction,
    e.tenant,
    e.peer,
    e.target,
    `${e.method ?? "-"} ${e.path ?? "-"}`,
    e.status,
    e.code,
    e.requestId,
  ];
}

function denials(events: readonly RequestEvent[]): string {
  return table(
    "denials",
    DENIAL_HEADINGS,
    events.map((e) => row(denialCells(e))),
  );
}
