/**
 * Which rows a run measures, their names, and which row each ratio divides by. A row is a
 * kind (direct, palisade, bare, nginx), a layout (1p: both hops in one process; 2p: one
 * process per hop), a feature set (Palisade: "on" = every feature, "off" = lean) and a
 * worker count.
 */
import { nginxAvailable } from "./nginx.mjs";
import { palisadeSupportsConcurrency } from "./palisade.mjs";

export const KINDS = ["direct", "palisade", "bare", "nginx"];
export const LAYOUTS = ["1p", "2p"];

/** A row's name from its parts: `palisade-1p`, `palisade-2p-lean`, `nginx-1p-w2`, `direct`. */
export function rowName({ kind, layout, features = "on", workers = 1 }) {
  if (kind === "direct") return "direct";
  const lean = kind === "palisade" && features === "off" ? "-lean" : "";
  return `${kind}-${layout}${lean}${workers > 1 ? `-w${workers}` : ""}`;
}

/** Every row asked for, in a stable order: direct first, then by layout, workers and kind. */
export function planRows({ kinds, layouts, features, concurrency }) {
  const rows = kinds.includes("direct") ? [{ kind: "direct", workers: 1 }] : [];
  const workerCounts = [1, ...(concurrency > 1 ? [concurrency] : [])];
  for (const layout of layouts)
    for (const workers of workerCounts)
      for (const kind of kinds) {
        if (kind === "direct") continue;
        const sets = kind === "palisade" ? features : ["on"];
        for (const f of sets) rows.push({ kind, layout, features: f, workers });
      }
  return rows.map((row) => ({ ...row, name: rowName(row) }));
}

/** The row a ratio divides by: the same layout and workers, of another kind. */
export function peerName(row, kind) {
  return rowName({ kind, layout: row.layout, workers: row.workers });
}

export function describeRow(row) {
  const what = {
    direct: "client → app (no proxy)",
    palisade:
      row.layout === "1p"
        ? "one sidecar (node dist/cli.js run): outbound → mTLS → its own inbound → app"
        : "caller sidecar → mTLS → callee sidecar (node dist/cli.js run, one process each)",
    bare:
      row.layout === "1p"
        ? "one process: node:http + undici Pool → mTLS → node:https + undici Pool (no checks)"
        : "node:http + undici Pool → mTLS → node:https + undici Pool, one process per hop (no checks)",
    nginx:
      row.layout === "1p"
        ? "one nginx instance with both hops (mTLS between them, keepalive pools)"
        : "nginx → mTLS → nginx (two instances, keepalive pools)",
  }[row.kind];
  const features =
    row.kind !== "palisade"
      ? ""
      : row.features === "off"
        ? "; lean: no access log, no tracer, no cache"
        : "; every feature on: access log to a file, metrics, OTLP exporter at sampleRatio 0, inbound cache (no-store route), anomaly detection";
  const workers =
    row.kind === "direct"
      ? ""
      : `; ${row.workers} worker${row.workers > 1 ? "s" : ""}${row.layout === "2p" ? " per hop" : ""}`;
  return `${what}${features}${workers}`;
}

/** Why a row cannot run here, or undefined. */
export async function unavailable(row) {
  if (row.kind === "nginx" && !nginxAvailable()) return "nginx is not installed";
  if (row.kind === "palisade" && row.workers > 1 && !(await palisadeSupportsConcurrency()))
    return "this build has no `concurrency` setting (not in `node dist/cli.js schema`)";
  return undefined;
}
