/** `palisade demo [--port-base N] [--dir DIR]`: what `npm start` runs. */
import { parseFlags, UsageError } from "./flags.js";

export async function main(args: string[]): Promise<number> {
  const { values } = parseFlags(args, {
    "port-base": { type: "string" },
    dir: { type: "string", default: ".demo" },
  });
  const { DEFAULT_PORT_BASE, MAX_PORT_BASE, runDemo } = await import("../demo.js");
  const text = values["port-base"] ?? String(DEFAULT_PORT_BASE);
  const portBase = Number(text);
  // 0 puts every listener on an ephemeral port; the curl lines name the ports chosen.
  if (!/^[0-9]{1,5}$/.test(text) || portBase > MAX_PORT_BASE) {
    throw new UsageError(
      `--port-base must be 0 to ${MAX_PORT_BASE} (the demo's highest port is the base + ${
        65535 - MAX_PORT_BASE
      }), not ${JSON.stringify(text)}`,
    );
  }
  try {
    return await runDemo({ dir: values.dir, portBase });
  } catch (err) {
    const { ListenError } = await import("../config/listen.js");
    const code = (err as NodeJS.ErrnoException).code;
    if (!(err instanceof ListenError) && code !== "EADDRINUSE" && code !== "EACCES") throw err;
    // As `run`: a listener that cannot bind is exit 1; the hint is the flag that avoids it.
    process.stderr.write(
      `palisade demo: cannot listen: ${(err as Error).message}; another --port-base avoids it\n`,
    );
    return 1;
  }
}
