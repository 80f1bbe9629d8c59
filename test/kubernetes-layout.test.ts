/**
 * The sidecar as Kubernetes runs it: `palisade run` (a child process) on the shipped
 * ConfigMap's palisade.yaml, its tenant certificates made as cert-manager makes them (EC
 * P-256, SEC1 keys, one URI SAN) and mounted as kubelet mounts Secrets (`..data` symlink
 * swaps). A rotation by `..data` swap is served to the next handshake; a real Prometheus
 * scrapes the stats port; the stats port refuses `/config` when reached on a non-loopback
 * address, where the admin listener does not answer at all.
 *
 * Overridden from the shipped config, and only these: listen ports (0, so runs never
 * collide; stats keeps its wildcard host), the app's URL, and drainDelay.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { connect as netConnect } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApp, type TestApp } from "./support/app.js";
import { eventually } from "./support/eventually.js";
import { send } from "./support/mesh.js";
import { caExtensions, opensslCert, svidExtensions, type OpensslCert } from "./support/openssl.js";
import { spawnSidecar, type SidecarProcess } from "./support/process.js";
import { findBinary, startPrometheus, type RunningPrometheus } from "./support/prometheus.js";
import { CI } from "./support/design.js";
import { projectVolume } from "./support/kube-volume.js";
import { serverFingerprint, openTls, type Credentials } from "./support/tls-client.js";
import { KUBERNETES_DIR } from "./support/deploy-manifests.js";
import { parseManifests } from "./support/kube-validate.js";

const TRUST_DOMAIN = "mesh.local";
const withPrometheus = findBinary(["prometheus"]) !== undefined || CI;

let work: string;
let app: TestApp;
let sidecar: SidecarProcess;
let tenants: string[];
const cas = new Map<string, OpensslCert>();

/** What cert-manager writes into a leaf Secret: ca.crt, tls.crt, tls.key (SEC1 "EC PRIVATE KEY"). */
function certManagerSecret(tenant: string, service: string, name: string): Record<string, string> {
  const ca = cas.get(tenant)!;
  const leaf = opensslCert(work, name, {
    subject: "/",
    issuer: ca,
    extensions: svidExtensions(`spiffe://${TRUST_DOMAIN}/tenant/${tenant}/sa/${service}`),
  });
  const sec1 = execFileSync("openssl", ["ec", "-in", leaf.key], { stdio: "pipe" }).toString();
  return { "ca.crt": ca.certPem, "tls.crt": leaf.certPem, "tls.key": sec1 };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "palisade-k8s-"));
  app = await startApp();
  const shipped = parseManifests(
    await readFile(join(KUBERNETES_DIR, "palisade-config.yaml"), "utf8"),
  )[0] as unknown as { data: { "palisade.yaml": string } };
  const config = parse(shipped.data["palisade.yaml"]) as Record<string, Record<string, unknown>>;
  tenants = Object.keys(config["tenants"]!);
  Object.assign(config["inbound"]!, { listen: "127.0.0.1:0", app: app.url });
  Object.assign(config["outbound"]!, { listen: "127.0.0.1:0" });
  Object.assign(config["admin"]!, { listen: "127.0.0.1:0" });
  Object.assign(config["stats"]!, { listen: "0.0.0.0:0" });
  (config as Record<string, unknown>)["drainDelay"] = "0s";

  // /etc/palisade: the ConfigMap volume, with one Secret volume per tenant inside it.
  const etc = join(work, "etc-palisade");
  await projectVolume(etc, { "palisade.yaml": stringify(config) });
  for (const tenant of tenants) {
    cas.set(
      tenant,
      opensslCert(work, `${tenant}-ca`, {
        subject: `/CN=palisade ${tenant} CA`,
        extensions: caExtensions(),
      }),
    );
    await projectVolume(
      join(etc, "tenants", tenant),
      certManagerSecret(tenant, "orders", `${tenant}-orders-1`),
    );
  }
  sidecar = await spawnSidecar(join(etc, "palisade.yaml"));
}, 60_000);

afterAll(async () => {
  await sidecar?.kill();
  await app?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

function clientOf(tenant: string): Credentials {
  const secret = certManagerSecret(tenant, "web", `${tenant}-web-${Date.now()}`);
  return {
    cert: secret["tls.crt"]!,
    key: secret["tls.key"]!,
    ca: secret["ca.crt"]!,
    servername: `${tenant}.orders.${TRUST_DOMAIN}`,
  };
}

/** One request on a new connection: status and the fingerprint of the certificate served. */
async function call(
  tenant: string,
  credentials: Credentials,
): Promise<{ status: number; served: string }> {
  const port = Number(new URL(sidecar.inbound).port);
  const socket = await openTls(port, credentials);
  const served = serverFingerprint(socket);
  socket.write(
    `GET /tenants/${tenant}/orders HTTP/1.1\r\nHost: orders\r\nConnection: close\r\n\r\n`,
  );
  let text = "";
  socket.setEncoding("latin1").on("data", (c: string) => (text += c));
  await new Promise((resolve) => socket.once("close", resolve));
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), served };
}

const fingerprint = (pem: string) =>
  execFileSync("openssl", ["x509", "-noout", "-fingerprint", "-sha256"], { input: pem })
    .toString()
    .replace(/^.*=/, "")
    .trim();

describe("the shipped ConfigMap and Secret layout", () => {
  it("serves every tenant with the certificates from its Secret directory", async () => {
    for (const tenant of tenants) {
      const answer = await call(tenant, clientOf(tenant));
      expect(answer.status, tenant).toBe(200);
    }
    expect(app.seen.length).toBeGreaterThanOrEqual(tenants.length);
  });

  it("a `..data` swap (cert-manager renewal, new key) is served to the next handshake", async () => {
    const tenant = tenants[0]!;
    const credentials = clientOf(tenant);
    const before = (await call(tenant, credentials)).served;
    const renewed = certManagerSecret(tenant, "orders", `${tenant}-orders-2`);
    await projectVolume(join(work, "etc-palisade", "tenants", tenant), renewed);
    const expected = fingerprint(renewed["tls.crt"]!);
    expect(expected).not.toBe(before);
    await eventually(
      async () => (await call(tenant, credentials)).served === expected,
      "the renewed certificate to be served",
      15_000,
    );
    await sidecar.waitForLog(
      (l) => l.msg === "certificates rotated; new handshakes use them",
      "rotation logged",
    );
  });
});

describe("the stats port", () => {
  const external = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === "IPv4" && !a.internal)?.address;

  it.runIf(external !== undefined)(
    "refuses /config from a non-loopback address; admin is not there at all",
    async () => {
      const stats = `http://${external}:${new URL(sidecar.stats).port}`;
      expect((await send(undefined, `${stats}/healthz`)).status).toBe(200);
      for (const path of ["/config", "/tenants"]) {
        const res = await send(undefined, `${stats}${path}`);
        expect(res.status, path).toBe(404);
        expect(res.text).not.toContain("tenants/");
      }
      expect(
        (await send(undefined, `${stats}/cache/purge?tenant=acme`, { method: "POST" })).status,
      ).toBe(404);
      // The admin listener is bound to loopback: the same host's other address is refused.
      const adminPort = Number(new URL(sidecar.admin).port);
      const refused = await new Promise<string>((resolve) => {
        const socket = netConnect({ host: external!, port: adminPort });
        socket.once("connect", () => {
          socket.destroy();
          resolve("connected");
        });
        socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
      expect(refused).toBe("ECONNREFUSED");
      expect((await send(undefined, `${sidecar.admin}/config`)).status).toBe(200);
    },
  );

  it.runIf(withPrometheus)(
    "is scraped by a real Prometheus (OpenMetrics, as Prometheus asks first)",
    async () => {
      let prometheus: RunningPrometheus | undefined;
      try {
        prometheus = await startPrometheus({
          scrapeTargets: [`127.0.0.1:${new URL(sidecar.stats).port}`],
        });
        await prometheus.waitForTargetsUp();
        const series = await eventually(
          async () => {
            const result = (await prometheus!.query(
              'palisade_requests_total{direction="inbound",code="200"}',
            )) as { metric: Record<string, string> }[];
            return result.length > 0 ? result : undefined;
          },
          "inbound requests in Prometheus",
          20_000,
        );
        expect(series.map((s) => s.metric["tenant"]).sort()).toEqual([...tenants].sort());
        const expiry = await prometheus.query("palisade_cert_expiry_timestamp_seconds");
        expect(expiry).toHaveLength(tenants.length);
      } finally {
        await prometheus?.stop();
      }
    },
    90_000,
  );
});
