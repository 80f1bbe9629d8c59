/** Starts the benchmark app (bench/servers/app.mjs) in its own process. */
import { resolve } from "node:path";
import { freePort } from "./ports.mjs";
import { startProcess, waitForHttp } from "./processes.mjs";

const APP = resolve(import.meta.dirname, "../servers/app.mjs");

export async function startApp() {
  const port = await freePort();
  const proc = startProcess("app", process.execPath, [APP, String(port)]);
  await waitForHttp(`http://127.0.0.1:${port}/tenants/acme/small`, { proc, timeoutMs: 10_000 });
  return { port, proc };
}
