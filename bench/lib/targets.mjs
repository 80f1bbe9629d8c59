/**
 * The four ways through the loopback mesh, each started on demand and stopped after its
 * rows. Every target answers the same requests at `url` with `headers`:
 *
 *   direct    client → app                                           (the physical limit)
 *   palisade  client → caller sidecar → mTLS → callee sidecar → app
 *   nginx     client → nginx (outbound) → mTLS → nginx (inbound) → app
 *   bare      client → node:http+undici → mTLS → node:https+undici → app (the Node floor)
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { connect } from "node:tls";
import { request } from "undici";
import { inboundConfig, nginxAvailable, outboundConfig, startNginx } from "./nginx.mjs";
import { startPalisadePair } from "./palisade.mjs";
import { pkiPaths, TRUST_DOMAIN } from "./pki.mjs";
import { freePorts } from "./ports.mjs";
import { startProcess, waitForPort } from "./processes.mjs";

const BARE = resolve(import.meta.dirname, "../servers/bare-proxy.mjs");
export const TENANT = "acme";
/** What the client sends to every target; only Palisade reads the two headers. */
export const CLIENT_HEADERS = { Host: "orders", "x-palisade-tenant": TENANT };
const SNI = `${TENANT}.orders.${TRUST_DOMAIN}`;

export const TARGETS = {
  direct: {
    describe: "client → app (no proxy)",
    async start({ appPort }) {
      return { url: `http://127.0.0.1:${appPort}`, procs: [], stop: async () => {} };
    },
  },

  palisade: {
    describe: "caller sidecar → mTLS → callee sidecar (node dist/cli.js run, one process each)",
    async start({ tmp, pkiDir, appPort, nodeArgs, inboundCache }) {
      const pair = await startPalisadePair(join(tmp, "palisade"), {
        pkiDir,
        tenants: [TENANT],
        appPort,
        nodeArgs,
        inboundCache,
      });
      return {
        url: `http://127.0.0.1:${pair.caller.ports.outbound}`,
        inboundPort: pair.callee.ports.inbound,
        procs: [pair.caller.proc, pair.callee.proc],
        pair,
        stop: () => Promise.all([pair.caller.proc.stop(), pair.callee.proc.stop()]),
      };
    },
  },

  nginx: {
    describe: "nginx → mTLS → nginx (two instances, worker_processes 1 each, keepalive pools)",
    available: nginxAvailable,
    async start({ tmp, pkiDir, appPort }) {
      const [outPort, inPort] = await freePorts(2);
      const web = pkiPaths(pkiDir, TENANT, "web");
      const orders = pkiPaths(pkiDir, TENANT, "orders");
      const inDir = join(tmp, "nginx-inbound");
      const outDir = join(tmp, "nginx-outbound");
      const inbound = await startNginx(
        "nginx-inbound",
        inDir,
        inboundConfig(inDir, { port: inPort, appPort, ...orders }),
        inPort,
      );
      const outbound = await startNginx(
        "nginx-outbound",
        outDir,
        outboundConfig(outDir, { port: outPort, upstreamPort: inPort, ...web, sslName: SNI }),
        outPort,
      );
      return {
        url: `http://127.0.0.1:${outPort}`,
        inboundPort: inPort,
        procs: [outbound, inbound],
        stop: () => Promise.all([outbound.stop(), inbound.stop()]),
      };
    },
  },

  bare: {
    describe: "node:http + undici Pool → mTLS → node:https + undici Pool (no checks)",
    async start({ pkiDir, appPort, nodeArgs = [] }) {
      const [outPort, inPort] = await freePorts(2);
      const web = pkiPaths(pkiDir, TENANT, "web");
      const orders = pkiPaths(pkiDir, TENANT, "orders");
      const inbound = startProcess("bare-inbound", process.execPath, [
        ...nodeArgs,
        BARE,
        JSON.stringify({
          mode: "inbound",
          port: inPort,
          upstream: `http://127.0.0.1:${appPort}`,
          ...orders,
        }),
      ]);
      await waitForPort(inPort, { proc: inbound });
      const outbound = startProcess("bare-outbound", process.execPath, [
        ...nodeArgs,
        BARE,
        JSON.stringify({
          mode: "outbound",
          port: outPort,
          upstream: `https://127.0.0.1:${inPort}`,
          servername: SNI,
          ...web,
        }),
      ]);
      await waitForPort(outPort, { proc: outbound });
      return {
        url: `http://127.0.0.1:${outPort}`,
        inboundPort: inPort,
        procs: [outbound, inbound],
        stop: () => Promise.all([outbound.stop(), inbound.stop()]),
      };
    },
  },
};

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
    if (name === "palisade" && res.headers["x-seen-tenant"] !== TENANT) {
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
