/**
 * A sidecar for the live-view tests: service `orders` holding acme, globex and initech, one
 * grant (globex may read acme's reports), and callers from service `web` of each tenant.
 * `call` answers with the request id, so a test can find its own request in an event.
 */
import type { Agent } from "undici";
import { request } from "undici";
import { baseConfig, send, type RunningSidecar } from "./mesh.js";
import type { Mesh } from "./with-mesh.js";

export const LIVE_TENANTS = ["acme", "globex", "initech"];

export interface LiveMesh {
  sidecar: RunningSidecar;
  clients: Record<string, Agent>;
  /** GET `path` as `tenant`: status and the request id Palisade gave it. */
  call(tenant: string, path: string): Promise<{ status: number; requestId: string }>;
  /** `/top` from the admin listener. */
  top(): Promise<{ rows: Record<string, unknown>[]; streams: { open: number } }>;
}

export async function startLiveMesh(mesh: Mesh): Promise<LiveMesh> {
  const app = await mesh.app();
  const config = baseConfig(mesh.pki, "orders", LIVE_TENANTS, app.url);
  config["grants"] = [
    {
      id: "globex-reports",
      from: "globex",
      to: "acme",
      methods: ["GET"],
      paths: ["/tenants/acme/reports/**"],
      expires: new Date(Date.now() + 30 * 86_400_000).toISOString(),
    },
  ];
  const sidecar = await mesh.sidecar(config);
  const clients: Record<string, Agent> = {};
  for (const t of LIVE_TENANTS) clients[t] = await mesh.client(t, "web", "orders");
  return {
    sidecar,
    clients,
    call: async (tenant, path) => {
      const answer = await send(clients[tenant], `${sidecar.inbound}${path}`);
      const id = answer.headers["x-request-id"];
      const requestId = typeof id === "string" ? id : String(answer.json()["requestId"]);
      return { status: answer.status, requestId };
    },
    top: async () => {
      const res = await request(`${sidecar.admin}/top`);
      return (await res.body.json()) as Awaited<ReturnType<LiveMesh["top"]>>;
    },
  };
}
