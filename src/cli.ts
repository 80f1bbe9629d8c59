#!/usr/bin/env node
/**
 * `palisade run -c FILE` · `palisade check -c FILE [--format json]` ·
 * `palisade certs init --out DIR --trust-domain D --tenants a,b --services x,y` ·
 * `palisade probe --target HOST:PORT --pki DIR --tenant T --other U` ·
 * `palisade demo` · `palisade schema`
 */
import { parseArgs } from "node:util";
// Commands load what they need: `run` never pays for node-forge, the demo or the linter.

const USAGE = `usage:
  palisade run -c FILE             run the sidecar (SIGHUP or a file change reloads, SIGTERM drains)
  palisade check -c FILE [--format human|json]
                                   validate the config and lint the policy (exit 0 clean, 1 errors, 2 unusable)
  palisade check --diff OLD NEW [--deny-widening]
                                   print the tenant-to-tenant paths a change opens (+) and closes (-)
                                   (exit 0; 1 with --deny-widening when any opens; 2 unusable)
  palisade certs init --out DIR --trust-domain D --tenants a,b --services x,y [--days N]
                                   write a development PKI: one CA per tenant, one SVID per tenant and service
  palisade certs cert-manager --tenants a,b --services x,y [--trust-domain D] [--namespace N]
                                   print cert-manager Issuers and Certificates: a CA per tenant, an SVID per pair
  palisade probe --target HOST:PORT --pki DIR --tenant T --other U
                 [--service S] [--server-name NAME] [--prefix /tenants/{tenant}]
                 [--format human|json] [--allow-writes] [--timeout 5s] [--deadline 30s]
                                   attack a running sidecar's inbound listener as tenant T and as forged
                                   identities; exit 0 when every case held, 1 on any failure or leak
  palisade demo                    run a demo mesh on loopback (what npm start does)
  palisade schema                  print the config's JSON Schema
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "run":
      return run(rest);
    case "check": {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          config: { type: "string", short: "c" },
          format: { type: "string", default: "human" },
          diff: { type: "boolean", default: false },
          "deny-widening": { type: "boolean", default: false },
        },
      });
      if (values.diff) {
        const [before, after, ...extra] = positionals;
        if (before === undefined || after === undefined || extra.length > 0) return usage();
        const { runCheckDiff } = await import("./policy/diff-command.js");
        return runCheckDiff(before, after, { denyWidening: values["deny-widening"] });
      }
      if (positionals.length > 0 || values["deny-widening"]) return usage();
      if (!values.config || (values.format !== "human" && values.format !== "json")) return usage();
      const { runCheck } = await import("./check.js");
      return runCheck(values.config, values.format);
    }
    case "certs":
      return certs(rest);
    case "probe":
      return probe(rest);
    case "demo":
      return (await import("./demo.js")).runDemo();
    case "schema": {
      const [{ z }, { configSchema }] = await Promise.all([
        import("zod"),
        import("./config/schema.js"),
      ]);
      process.stdout.write(
        `${JSON.stringify(z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }), null, 2)}\n`,
      );
      return 0;
    }
    default:
      return usage();
  }
}

/**
 * Runs until SIGTERM or SIGINT, then drains and exits 0. SIGHUP and changes to the config
 * or any file it names reload. A second SIGINT skips the drain (an impatient terminal);
 * a repeated SIGTERM changes nothing (the orchestrator's SIGKILL is the deadline).
 * A failed start has closed everything it opened: exit 1 when a listener could not bind,
 * 2 when the config (or a file it names) is unusable.
 */
async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: "string", short: "c" } } });
  if (!values.config) return usage();
  const { Sidecar } = await import("./sidecar.js");
  const starting = Sidecar.start({ configFile: values.config, watch: true });
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
    const { ListenError } = await import("./config/listen.js");
    process.stderr.write(`palisade: cannot start: ${(err as Error).message}\n`);
    return err instanceof ListenError ? 1 : 2;
  }
  await stopping;
  await sidecar.stop();
  return 0;
}

async function certs(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === "cert-manager")
    return (await import("./deploy/cert-manager-command.js")).certManagerCommand(rest);
  if (sub !== "init") return usage();
  const { values } = parseArgs({
    args: rest,
    options: {
      out: { type: "string", default: "pki" },
      "trust-domain": { type: "string", default: "mesh.local" },
      tenants: { type: "string" },
      services: { type: "string" },
      days: { type: "string", default: "365" },
    },
  });
  if (!values.tenants || !values.services) return usage();
  const { initDevPki } = await import("./tls/dev-pki.js");
  const result = await initDevPki({
    out: values.out,
    trustDomain: values["trust-domain"],
    tenants: values.tenants.split(","),
    services: values.services.split(","),
    days: Number(values.days),
  });
  process.stdout.write(
    `wrote a development PKI to ${values.out}: ${JSON.stringify(result.files ?? result)}\n`,
  );
  return 0;
}

async function probe(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      target: { type: "string" },
      pki: { type: "string" },
      tenant: { type: "string" },
      other: { type: "string" },
      service: { type: "string" },
      "server-name": { type: "string" },
      prefix: { type: "string", default: "/tenants/{tenant}" },
      format: { type: "string", default: "human" },
      "allow-writes": { type: "boolean", default: false },
      timeout: { type: "string", default: "5s" },
      deadline: { type: "string", default: "30s" },
    },
  });
  const { parseDuration } = await import("./config/units.js");
  const timeoutMs = parseDuration(values.timeout);
  const deadlineMs = parseDuration(values.deadline);
  const { target, pki, tenant, other, format } = values;
  if (!target || !pki || !tenant || !other || tenant === other) return usage();
  if ((format !== "human" && format !== "json") || !timeoutMs || !deadlineMs) return usage();
  const { runProbe } = await import("./probe/index.js");
  return runProbe({
    target,
    pki,
    tenant,
    other,
    ...(values.service ? { service: values.service } : {}),
    ...(values["server-name"] ? { serverName: values["server-name"] } : {}),
    prefix: values.prefix,
    format,
    allowWrites: values["allow-writes"],
    timeoutMs,
    deadlineMs,
  });
}

function usage(): number {
  process.stderr.write(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`palisade: ${err.message}\n`);
    process.exitCode = 2;
  },
);
