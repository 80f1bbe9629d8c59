/**
 * The HTTP/2 side of the mesh for the h2 and gRPC rows: the h2c app, and the two ways
 * through it, each answering h2c (prior knowledge) at `url`:
 *
 *   bare      h2c → node:http2 → h2 over mTLS → node:http2 → h2c → app (the Node floor)
 *   palisade  h2c → caller sidecar → h2 over mTLS → callee sidecar → h2c → app
 *
 * gRPC paths name no tenant, so Palisade's target rule here is the `x-target-tenant` header.
 */
import { join, resolve } from "node:path";
import { startPalisadePair } from "./palisade.mjs";
import { pkiPaths, TRUST_DOMAIN } from "./pki.mjs";
import { freePort, freePorts } from "./ports.mjs";
import { startProcess, waitForPort } from "./processes.mjs";
import { TENANT } from "./targets.mjs";

const H2_APP = resolve(import.meta.dirname, "../servers/h2-app.mjs");
const BARE_H2 = resolve(import.meta.dirname, "../servers/bare-h2-proxy.mjs");

/** What every h2 and gRPC request carries; only Palisade reads the two headers. */
export const H2_HEADERS = { "x-palisade-tenant": TENANT, "x-target-tenant": TENANT };
/** The `:authority` the caller sidecar knows its upstream by. */
export const AUTHORITY = "orders";

export async function startH2App() {
  const port = await freePort();
  const proc = startProcess("h2-app", process.execPath, [H2_APP, String(port)]);
  await waitForPort(port, { proc });
  return { port, proc };
}

export const H2_TARGETS = {
  bare: {
    describe: "node:http2 h2c → h2 mTLS → node:http2 → h2c (no checks)",
    async start({ pkiDir, h2AppPort }) {
      const [outPort, inPort] = await freePorts(2);
      const side = (name, mode, port, upstream, certs, extra = {}) =>
        startProcess(name, process.execPath, [
          BARE_H2,
          JSON.stringify({ mode, port, upstream, ...certs, ...extra }),
        ]);
      const inbound = side(
        "bare-h2-inbound",
        "inbound",
        inPort,
        `http://127.0.0.1:${h2AppPort}`,
        pkiPaths(pkiDir, TENANT, "orders"),
      );
      await waitForPort(inPort, { proc: inbound });
      const outbound = side(
        "bare-h2-outbound",
        "outbound",
        outPort,
        `https://127.0.0.1:${inPort}`,
        pkiPaths(pkiDir, TENANT, "web"),
        { servername: `${TENANT}.orders.${TRUST_DOMAIN}` },
      );
      await waitForPort(outPort, { proc: outbound });
      return {
        url: `http://127.0.0.1:${outPort}`,
        procs: [outbound, inbound],
        stop: () => Promise.all([outbound.stop(), inbound.stop()]),
      };
    },
  },

  palisade: {
    describe: "caller sidecar → h2 mTLS → callee sidecar, `inbound.appProtocol: h2c`",
    async start({ tmp, pkiDir, h2AppPort }) {
      const pair = await startPalisadePair(join(tmp, "palisade-h2"), {
        pkiDir,
        tenants: [TENANT],
        appPort: h2AppPort,
        appProtocol: "h2c",
        target: { header: "x-target-tenant" },
      });
      return {
        url: `http://127.0.0.1:${pair.caller.ports.outbound}`,
        procs: [pair.caller.proc, pair.callee.proc],
        stop: () => Promise.all([pair.caller.proc.stop(), pair.callee.proc.stop()]),
      };
    },
  },
};
