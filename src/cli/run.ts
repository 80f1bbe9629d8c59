/**
 * `palisade run -c FILE`: runs until SIGTERM or SIGINT, then drains and exits 0. SIGHUP and
 * changes to the config or any file it names reload. A second SIGINT skips the drain (an
 * impatient terminal); a repeated SIGTERM changes nothing (the orchestrator's SIGKILL is
 * the deadline). A failed start has closed everything it opened: exit 1 when a listener
 * could not bind, 2 when the config (or a file it names) is unusable.
 */
import { parseFlags, required } from "./flags.js";

export async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, { config: { type: "string", short: "c" } });
  const configFile = required(values.config, "-c, --config");
  const { Sidecar } = await import("../sidecar.js");
  const starting = Sidecar.start({ configFile, watch: true });
  // Installed at once: SIGHUP's default action would end the process.
  process.on("SIGHUP", () => void starting.then((s) => s.reload("SIGHUP")).catch(() => {}));
  const stopping = new Promise<void>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signals++ === 0) resolve();
      else if (signal === "SIGINT") process.exit(130);
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  let sidecar: Awaited<typeof starting>;
  try {
    sidecar = await starting;
  } catch (err) {
    const { ListenError } = await import("../config/listen.js");
    process.stderr.write(`palisade: cannot start: ${(err as Error).message}\n`);
    return err instanceof ListenError ? 1 : 2;
  }
  await stopping;
  await sidecar.stop();
  return 0;
}
