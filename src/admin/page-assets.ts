/**
 * The admin page's inline style and script. Plain text, no build step; the script uses no
 * innerHTML (every value is set as text), and reads `/events` relative to the page.
 */

export const PAGE_STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1d1d1f; background: #fafafa; }
h1 { font-size: 1.4rem; margin: 0; } h1 span { color: #555; font-weight: normal; }
h2 { font-size: 1.05rem; margin: 1.6rem 0 .4rem; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; text-align: left; white-space: nowrap; }
thead th { background: #f0f0f3; }
tr.revoked td, tr.expired td { color: #999; text-decoration: line-through; }
.allowed { color: #1a7f37; } .granted { color: #0a58ca; } .denied { color: #c62828; font-weight: 600; }
td.has-denied { background: #fdecea; }
#denials tbody tr.new { animation: flash 1.5s ease-out; }
@keyframes flash { from { background: #ffd7d2; } to { background: #fff; } }
#live-status { color: #555; }
`;

export const PAGE_SCRIPT = `
(() => {
  "use strict";
  const body = document.querySelector("#denials tbody");
  const status = document.getElementById("live-status");
  const MAX_ROWS = 200;
  const cells = (e) => [e.time, e.direction, e.tenant, e.peer, e.target,
    (e.method || "-") + " " + (e.path || "-"), e.status, e.code, e.requestId];
  const bumpMatrix = (e) => {
    for (const td of document.querySelectorAll("#matrix td[data-caller]")) {
      if (td.dataset.caller !== e.tenant || td.dataset.target !== e.target) continue;
      const denied = td.querySelector(".denied");
      denied.textContent = String(Number(denied.textContent) + 1);
      td.classList.add("has-denied");
    }
  };
  const source = new EventSource("events?decision=denied");
  source.onopen = () => { status.textContent = "newest first; live"; };
  source.onerror = () => { status.textContent = "newest first; reconnecting…"; };
  source.onmessage = (message) => {
    const e = JSON.parse(message.data);
    const tr = document.createElement("tr");
    tr.className = "new";
    for (const value of cells(e)) {
      const td = document.createElement("td");
      td.textContent = value === undefined || value === null ? "-" : String(value);
      tr.append(td);
    }
    body.prepend(tr);
    while (body.rows.length > MAX_ROWS) body.deleteRow(-1);
    bumpMatrix(e);
  };
})();
`;
