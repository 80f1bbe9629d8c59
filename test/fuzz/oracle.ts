/**
 * What a naive app would make of a request that reached it: the path as common frameworks
 * see it (WHATWG URL parsing, percent-decoding, NFKC, case-insensitive routing, dot
 * segments resolved again after decoding) and the tenant its `/tenants/{tenant}` route
 * would read. The fuzzer's invariants compare this view with the tenant Palisade proved.
 */
import { posix } from "node:path";

const ROUTE = /^\/tenants\/([^/]+)/;

/** The tenant a naive `/tenants/{tenant}` route would read from `target`, if any. */
export function appTarget(target: string, host = "app.local"): string | undefined {
  const seen = new Set<string>();
  for (const path of appPaths(target, host)) {
    const tenant = ROUTE.exec(path)?.[1];
    if (tenant !== undefined) seen.add(tenant);
  }
  // Two readings that disagree are both reachable by some app: report one that is not the
  // plain reading, so the caller's comparison fails.
  return seen.size === 0 ? undefined : [...seen].sort().join("|");
}

/** Every path a common app stack might route on for this request target. */
function appPaths(target: string, host: string): string[] {
  let pathname: string;
  try {
    pathname = new URL(target, `http://${host}`).pathname;
  } catch {
    pathname = target.split("?")[0] ?? target;
  }
  const decoded = decode(pathname);
  const variants = [
    pathname,
    decoded,
    decoded.normalize("NFKC"),
    decoded.normalize("NFKC").toLowerCase(),
  ];
  return [...new Set(variants.flatMap((v) => [v.toLowerCase(), resolveDots(v).toLowerCase()]))];
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text.replace(/%([0-9a-f]{2})/gi, (_, hex: string) =>
      String.fromCharCode(parseInt(hex, 16)),
    );
  }
}

/** Backslashes as slashes, path parameters stripped (Tomcat, Spring), slashes merged, dots resolved. */
function resolveDots(path: string): string {
  const segments = path.replaceAll("\\", "/").split("/");
  return posix.normalize(segments.map((s) => s.split(";")[0]).join("/"));
}

/** The authority a naive app's URL parser would take from `Host`, or undefined if it cannot. */
export function appHost(host: string): string | undefined {
  try {
    const url = new URL(`http://${host}`);
    return url.username || url.password ? `${url.username}@${url.host}` : url.host;
  } catch {
    return undefined;
  }
}
