/**
 * Settings the listeners read reload on a running sidecar, as README promises: socket
 * timeouts, the log level and the access-log switch change with the mounted file, with no
 * restart. Each case is observed on the wire or in the log stream, before and after.
 */
import { writeFile } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { Agent } from "undici";
import { startApp, type TestApp } from "./support/app.js";
import { eventually } from "./support/eventually.js";
import {
  baseConfig,
  makePki,
  send,
  startSidecar,
  tenantClient,
  type Pki,
  type RunningSidecar,
} from "./support/mesh.js";
import { rawExchange, rawTcp, statusOf } from "./support/raw.js";

let pki: Pki;
let app: TestApp;
let acme: Agent;
const running: RunningSidecar[] = [];

beforeAll(async () => {
  pki = await makePki(["acme"], ["orders", "web"]);
  app = await startApp();
  acme = await tenantClient(pki, "acme", "web", "orders");
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

afterAll(async () => {
  await acme?.close();
  await app?.close();
});

type Config = Record<string, Record<string, unknown>>;

function config(edit: (c: Config) => void): Config {
  const c = baseConfig(pki, "orders", ["acme"], app.url) as Config;
  edit(c);
  return c;
}

async function start(c: Config): Promise<RunningSidecar> {
  const sidecar = await startSidecar(c);
  running.push(sidecar);
  return sidecar;
}

/** Rewrites the mounted file and reloads it; the reload must apply. */
async function reloadWith(sidecar: RunningSidecar, c: Config): Promise<void> {
  const before = sidecar.sidecar.generation.id;
  await writeFile(sidecar.configFile, stringify(c));
  expect(await sidecar.sidecar.reload("test")).toBe(true);
  expect(sidecar.sidecar.generation.id).toBeGreaterThan(before);
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port }, () => resolve(socket));
    socket.once("error", reject);
  });
}

const HEAD_START = "GET /x HTTP/1.1\r\nHost: nowhere\r\n";

describe("listener timeouts reload", () => {
  it("a shortened request timeout cuts a slow head sooner than the head deadline would", async () => {
    const timeouts = (request: string) => (c: Config) =>
      (c["outbound"]!["timeouts"] = { headers: "10s", request });
    const sidecar = await start(config(timeouts("300s")));
    await reloadWith(sidecar, config(timeouts("400ms")));
    const began = performance.now();
    // The head never ends: only the request timeout (now 400 ms) can end it before 10 s.
    const answer = await rawTcp(portOf(sidecar.outbound), HEAD_START);
    const took = performance.now() - began;
    expect(statusOf(answer)).toBe(408);
    expect(answer).toContain('"error":"request_timeout"');
    expect(took).toBeLessThan(4_000);
  });

  it("a lengthened head deadline lets a head through that the old one would have cut", async () => {
    const headers = (value: string) => (c: Config) =>
      (c["outbound"]!["timeouts"] = { headers: value });
    const sidecar = await start(config(headers("300ms")));
    const port = portOf(sidecar.outbound);
    // Before: the head is cut at its 300 ms deadline.
    expect(statusOf(await rawTcp(port, HEAD_START))).toBe(408);
    await reloadWith(sidecar, config(headers("10s")));
    const socket = await open(port);
    socket.write(HEAD_START);
    // Past the old deadline (and Node's check interval) on purpose: the delay is the test.
    await new Promise((resolve) => setTimeout(resolve, 900));
    expect(socket.destroyed).toBe(false);
    const answer = await rawExchange(socket, "Connection: close\r\n\r\n");
    // Answered by the outbound path itself (no such upstream), not by a deadline.
    expect(statusOf(answer)).toBe(404);
    expect(answer).toContain('"error":"unknown_upstream"');
  });
});

describe("logging reloads", () => {
  /** Plain bytes to the TLS listener: a handshake error, logged at debug. */
  async function failHandshake(sidecar: RunningSidecar): Promise<void> {
    await rawTcp(portOf(sidecar.inbound), "GET / HTTP/1.1\r\n\r\n");
  }
  const debugLines = (sidecar: RunningSidecar) =>
    sidecar.logs.filter((l) => l.msg === "TLS handshake failed");

  it("the log level: debug lines appear once the file says debug, and stop again", async () => {
    const level = (value: string) => (c: Config) => (c["telemetry"] = { logs: { level: value } });
    const sidecar = await start(config(level("info")));
    await failHandshake(sidecar);
    expect(debugLines(sidecar)).toHaveLength(0);

    await reloadWith(sidecar, config(level("debug")));
    await failHandshake(sidecar);
    await eventually(() => debugLines(sidecar).length === 1, "a debug line");

    // The level applies before the reload reports itself: at warn, no `config reloaded`.
    const reloadedLines = () => sidecar.logs.filter((l) => l.msg === "config reloaded").length;
    const reloaded = reloadedLines();
    await reloadWith(sidecar, config(level("warn")));
    expect(reloadedLines()).toBe(reloaded);
    await failHandshake(sidecar);
    expect(debugLines(sidecar)).toHaveLength(1);
  });

  it("the access-log switch: served requests are logged once it is turned on", async () => {
    const access = (on: boolean) => (c: Config) =>
      (c["telemetry"] = { logs: { level: "info", access: on } });
    const sidecar = await start(config(access(false)));
    const served = () =>
      sidecar.logs.filter((l) => l.log === "access" && l["status"] === 200).length;
    const url = `${sidecar.inbound}/tenants/acme/orders`;
    expect((await send(acme, url)).status).toBe(200);
    expect(served()).toBe(0);

    await reloadWith(sidecar, config(access(true)));
    expect((await send(acme, url)).status).toBe(200);
    await eventually(() => served() === 1, "an access line for the served request");
  });
});
