/**
 * The ways through the loopback mesh. A row is a kind, a layout and (Palisade) a feature
 * set, with a worker count; every row answers the same requests at `url` with `headers`.
 *
 *   direct       client → app                                                (the physical limit)
 *   palisade-1p  client → sidecar outbound → mTLS → the same sidecar's inbound → app
 *   palisade-2p  client → caller sidecar → mTLS → callee sidecar → app
 *   nginx-1p/2p  the same with nginx: one instance holding both hops, or one per hop
 *   bare-1p/2p   the same with node:http+undici → mTLS → node:https+undici (the Node floor)
 *
 * Palisade rows run with every feature on unless named `-lean`; `-wN` rows run N workers
 * (Palisade `concurrency: N`, node:cluster for bare, `worker_processes N` for nginx).
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { connect } from "node:tls";
import { request } from "undici";
import { expectAccessLines, featureConfig } from "./features.mjs";
import { inboundConfig, outboundConfig, singleConfig, startNginx } from "./nginx.mjs";
import { startPalisadePair, startPalisadeSingle } from "./palisade.mjs";
import { pkiPaths, TRUST_DOMAIN } from "./pki.mjs";
import { freePorts } from "./ports.mjs";
import { startProcess, waitForPort } from "./processes.mjs";

const BARE = resolve(import.meta.dirname, "../servers/bare-proxy.mjs");
export const TENANT = "acme";
/** What the client sends to every target; only Palisade reads the two headers. */
export const CLIENT_HEADERS = { Host: "orders", "x-palisade-tenant": TENANT };
const SNI = `${TENANT}.orders.${TRUST_DOMAIN}`;

/**
 * The two-process lean rows under their old names, for h2-grpc.mjs, which compares them
 * with its HTTP/2 pairs.
 */
export const TARGETS = {
  palisade: {
    start: (ctx) =>
      startRow(
        { kind: "palisade", layout: "2p", features: "off", workers: 1, name: "palisade" },
        ctx,
      ),
  },
  bare: { start: (ctx) => startRow({ kind: "bare", layout: "2p", workers: 1, name: "bare" }, ctx) },
};

/** Starts a row: `{ url, inboundPort, procs, stop, admin?, accessLog? }`. */
export function startRow(row, ctx) {
  return STARTERS[row.kind](row, ctx);
}

const STARTERS = {
  async direct(_row, { appPort }) {
    return { url: `http://127.0.0.1:${appPort}`, procs: [], stop: async () => {} };
  },

  async palisade(row, { tmp, pkiDir, appPort, traceSink, nodeArgs }) {
    const dir = join(tmp, row.name);
    const { telemetry, inboundCache, accessLog } = featureConfig(row.features, { dir, traceSink });
    const common = { pkiDir, tenants: [TENANT], appPort, telemetry, inboundCache };
    const concurrency = row.workers > 1 ? row.workers : undefined;
    let started;
    if (row.layout === "1p") {
      const { sidecar } = await startPalisadeSingle(dir, { ...common, concurrency, nodeArgs });
      started = { url: `http://127.0.0.1:${sidecar.ports.outbound}`, sidecars: [sidecar] };
      started.inboundPort = sidecar.ports.inbound;
    } else {
      const pair = await startPalisadePair(dir, { ...common, concurrency, nodeArgs });
      started = {
        url: `http://127.0.0.1:${pair.caller.ports.outbound}`,
        inboundPort: pair.callee.ports.inbound,
        sidecars: [pair.caller, pair.callee],
      };
    }
    const procs = started.sidecars.map((s) => s.proc);
    return {
      ...started,
      procs,
      accessLog,
      // The inbound side: its admin /metrics holds the cache counters.
      adminPort: started.sidecars.at(-1).ports.admin,
      stop: () => Promise.all(procs.map((p) => p.stop())),
    };
  },

  async nginx(row, { tmp, pkiDir, appPort }) {
    const [outPort, inPort] = await freePorts(2);
    const outbound = { port: outPort, upstreamPort: inPort, ...pkiPaths(pkiDir, TENANT, "web") };
    outbound.sslName = SNI;
    const inbound = { port: inPort, appPort, ...pkiPaths(pkiDir, TENANT, "orders") };
    const dir = join(tmp, row.name);
    let procs;
    if (row.layout === "1p") {
      const config = singleConfig(dir, { outbound, inbound }, row.workers);
      procs = [await startNginx(row.name, dir, config, outPort)];
      await waitForPort(inPort);
    } else {
      const inDir = join(dir, "inbound");
      const outDir = join(dir, "outbound");
      const callee = await startNginx(
        `${row.name}-inbound`,
        inDir,
        inboundConfig(inDir, inbound, row.workers),
        inPort,
      );
      const config = outboundConfig(outDir, outbound, row.workers);
      procs = [await startNginx(`${row.name}-outbound`, outDir, config, outPort), callee];
    }
    return {
      url: `http://127.0.0.1:${outPort}`,
      inboundPort: inPort,
      procs,
      stop: () => Promise.all(procs.map((p) => p.stop())),
    };
  },

  async bare(row, { pkiDir, appPort, nodeArgs = [] }) {
    const [outPort, inPort] = await freePorts(2);
    const inbound = {
      mode: "inbound",
      port: inPort,
      upstream: `http://127.0.0.1:${appPort}`,
      ...pkiPaths(pkiDir, TENANT, "orders"),
    };
    const outbound = {
      mode: "outbound",
      port: outPort,
      upstream: `https://127.0.0.1:${inPort}`,
      servername: SNI,
      ...pkiPaths(pkiDir, TENANT, "web"),
    };
    const start = (name, servers) =>
      startProcess(name, process.execPath, [
        ...nodeArgs,
        BARE,
        JSON.stringify({ servers, workers: row.workers }),
      ]);
    let procs;
    if (row.layout === "1p") {
      procs = [start(row.name, [inbound, outbound])];
      await waitForPort(inPort, { proc: procs[0] });
      await waitForPort(outPort, { proc: procs[0] });
    } else {
      procs = [start(`${row.name}-outbound`, [outbound]), start(`${row.name}-inbound`, [inbound])];
      await waitForPort(outPort, { proc: procs[0] });
      await waitForPort(inPort, { proc: procs[1] });
    }
    return {
      url: `http://127.0.0.1:${outPort}`,
      inboundPort: inPort,
      procs,
      stop: () => Promise.all(procs.map((p) => p.stop())),
    };
  },
};

/** Features-on rows must really log: the sanity requests leave access lines. */
export async function provenFeatures(row, started) {
  if (started.accessLog) await expectAccessLines(started.accessLog);
}

/** Proves a target serves both bodies, and (Palisade) that the app saw the tenant. */
export async function sanityCheck(name, url, headers = CLIENT_HEADERS) {
  for (const [size, bytes] of [
    ["small", 1024],
    ["large", 65536],
  ]) {
    const res = await request(`${url}/tenants/${TENANT}/${size}`, {
      headers,
      headersTimeout: 10_000,
    });
    const body = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode !== 200 || body.length !== bytes) {
      throw new Error(
        `${name}: /${size} answered ${res.statusCode} with ${body.length} bytes: ${body.toString().slice(0, 300)}`,
      );
    }
    if (name.startsWith("palisade") && res.headers["x-seen-tenant"] !== TENANT) {
      throw new Error(
        `${name}: the app saw tenant ${res.headers["x-seen-tenant"]}, expected ${TENANT}`,
      );
    }
  }
}

/** The TLS version and cipher the hop negotiates, seen by a client holding acme's web SVID. */
export async function tlsProbe(port, pkiDir) {
  const web = pkiPaths(pkiDir, TENANT, "web");
  const [cert, key, ca] = await Promise.all(
    [web.cert, web.key, web.ca].map((p) => readFile(p, "utf8")),
  );
  return new Promise((resolveProbe) => {
    const socket = connect({
      host: "127.0.0.1",
      port,
      cert,
      key,
      ca,
      servername: SNI,
      checkServerIdentity: () => undefined,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolveProbe(undefined);
    }, 5_000);
    socket.once("secureConnect", () => {
      clearTimeout(timer);
      const cipher = socket.getCipher();
      resolveProbe({
        protocol: socket.getProtocol(),
        cipher: cipher?.standardName ?? cipher?.name,
      });
      socket.end();
    });
    socket.once("error", () => {
      clearTimeout(timer);
      resolveProbe(undefined);
    });
  });
}
