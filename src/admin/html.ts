/**
 * HTML building for the admin page: every value passes through `escapeHtml` (paths and
 * peer names come from the network), and the page's only script and style carry a
 * per-response nonce that its Content-Security-Policy names.
 */
import { randomBytes } from "node:crypto";
import type { ServerResponse } from "node:http";

const ENTITIES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** What a cell can hold. */
export type Cell = string | number | boolean | null | undefined;

export function escapeHtml(value: Cell): string {
  const text = value === undefined || value === null ? "-" : String(value);
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** `<tr>` of escaped cells; `attrs` are written as they are (callers build them escaped). */
export function row(cells: readonly Cell[], attrs = ""): string {
  return `<tr${attrs}>${cells.map((c) => `<td>${escapeHtml(c)}</td>`).join("")}</tr>`;
}

export function table(id: string, headings: readonly string[], rows: readonly string[]): string {
  const head = headings.map((h) => `<th>${escapeHtml(h)}</th>`).join("");
  return `<table id="${id}"><thead><tr>${head}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

export function newNonce(): string {
  return randomBytes(16).toString("base64");
}

/** Only the nonce's inline script and style run; nothing loads from anywhere but here. */
export function sendPage(res: ServerResponse, nonce: string, html: string): void {
  res.writeHead(200, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": [
      "default-src 'none'",
      `script-src 'nonce-${nonce}'`,
      `style-src 'nonce-${nonce}'`,
      "connect-src 'self'",
      "img-src data:",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
  });
  res.end(html);
}
