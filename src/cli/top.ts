/**
 * `palisade top [--admin URL] [--interval S] [--once]`: per direction, tenant and peer over
 * the sidecar's sliding window: rps, success rate, p50/p99 latency, denials. Redraws every
 * interval (ANSI clear and home); `--once` prints one table and exits.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { parseFlags, positiveInteger } from "./flags.js";

const CLEAR = "\u001b[H\u001b[2J";

export async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    admin: { type: "string" },
    interval: { type: "string", default: "2" },
    once: { type: "boolean", default: false },
  });
  const { adminUrl, fetchTop } = await import("../live/admin-client.js");
  const { topTable } = await import("../live/terminal.js");
  const admin = adminUrl(values.admin);
  const interval = positiveInteger(values.interval, "--interval", 3600);
  const render = async (): Promise<string> => {
    const top = await fetchTop(admin);
    const head = `palisade top  ${admin.origin}  window ${top.windowSeconds}s  ${top.time}\n\n`;
    return head + (top.rows.length === 0 ? "no requests in the window\n" : topTable(top.rows));
  };
  if (values.once) {
    try {
      process.stdout.write(await render());
      return 0;
    } catch (err) {
      process.stderr.write(`palisade top: ${admin.origin}: ${(err as Error).message}\n`);
      return 1;
    }
  }
  for (;;) {
    // An unreachable sidecar is shown, not fatal: it may be restarting.
    const screen = await render().catch(
      (err: unknown) => `palisade top: ${admin.origin}: ${(err as Error).message}\n`,
    );
    process.stdout.write(CLEAR + screen);
    await sleep(interval * 1000);
  }
}
