/**
 * The demo's two apps and the curl lines it prints. The apps are deliberately naive: they
 * trust `x-palisade-tenant`, which is exactly what Palisade makes safe to do.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { request } from "undici";

/** The orders app: returns the orders of the tenant Palisade says the request is for. */
export function ordersHandler(req: IncomingMessage, res: ServerResponse): void {
  const tenant = req.headers["x-palisade-tenant"];
  const match = /^\/tenants\/([^/]+)\/(orders|reports)/.exec(req.url ?? "");
  const owner = match?.[1] ?? "";
  const body = match
    ? match[2] === "reports"
      ? { id: `${owner}-q3`, total: 1234, customers: ["internal detail"], margin: 0.42 }
      : { tenant: owner, servedFor: tenant, orders: [{ id: `${owner}-1`, total: 99 }] }
    : { error: "not found" };
  const text = JSON.stringify(body);
  res.writeHead(match ? 200 : 404, { "content-type": "application/json" });
  res.end(text);
}

/** The web app: renders a dashboard by calling orders through its sidecar, passing the context on. */
export async function webHandler(
  req: IncomingMessage,
  res: ServerResponse,
  outboundPort: number,
): Promise<void> {
  const tenant = String(req.headers["x-palisade-tenant"]);
  const context = String(req.headers["x-palisade-context"]);
  try {
    const upstream = await request(`http://127.0.0.1:${outboundPort}/tenants/${tenant}/orders`, {
      headers: { host: "orders", "x-palisade-context": context },
    });
    const orders: unknown = await upstream.body.json();
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ dashboard: tenant, ordersStatus: upstream.statusCode, orders }));
  } catch (err) {
    res.writeHead(502, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: (err as Error).message }));
  }
}

export function curls(
  pki: string,
  webPort: number,
  ordersPort: number,
  adminPort: number,
): string[] {
  const as = (tenant: string, host: string, port: number) =>
    `curl -s --cacert ${pki}/${tenant}/ca.crt --cert ${pki}/${tenant}/cli.crt --key ${pki}/${tenant}/cli.key ` +
    `--resolve ${host}:${port}:127.0.0.1`;
  return [
    `# 1. Same tenant, through both sidecars (web -> orders): 200\n` +
      `${as("acme", "acme.web.mesh.local", webPort)} https://acme.web.mesh.local:${webPort}/tenants/acme/dashboard`,
    `# 2. Cross-tenant: acme asks for globex's orders: 403 cross_tenant_denied\n` +
      `${as("acme", "acme.orders.mesh.local", ordersPort)} https://acme.orders.mesh.local:${ordersPort}/tenants/globex/orders`,
    `# 3. Spoofed tenant header: acme's certificate claiming globex: 403 tenant_context_mismatch\n` +
      `${as("acme", "acme.orders.mesh.local", ordersPort)} -H 'x-palisade-tenant: globex' https://acme.orders.mesh.local:${ordersPort}/tenants/globex/orders`,
    `# 4. A grant: globex may read acme's reports, projected to {id, total}: 200\n` +
      `${as("globex", "globex.orders.mesh.local", ordersPort)} https://globex.orders.mesh.local:${ordersPort}/tenants/acme/reports/q3`,
    `# The orders sidecar's metrics: denials and grant uses by tenant\ncurl -s http://127.0.0.1:${adminPort}/metrics | grep palisade_cross_tenant`,
  ];
}
