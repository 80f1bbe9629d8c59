/**
 * Every command: its name, one line for `palisade --help`, its own `--help` text, and the
 * module that runs it, loaded only when it runs (`run` never pays for node-forge, the demo,
 * the linter or the YAML injector).
 */

export interface CommandModule {
  main(args: string[]): Promise<number>;
}

export interface Command {
  /** One word, or a group and a word (`certs init`). */
  name: string;
  summary: string;
  /** Flags and what they do, after the `usage:` line. */
  usage: string;
  load(): Promise<CommandModule>;
}

export const COMMANDS: readonly Command[] = [
  {
    name: "run",
    summary: "run the sidecar",
    usage: `palisade run -c FILE

  -c, --config FILE   the config (YAML). SIGHUP or a change to it, or to a file it names,
                      reloads; SIGTERM or SIGINT drains and exits 0.
Exit 1 when a listener cannot bind, 2 when the config or a file it names is unusable.`,
    load: () => import("./run.js"),
  },
  {
    name: "check",
    summary: "validate a config and lint its policy, or diff two policies",
    usage: `palisade check -c FILE [--format human|json]
       palisade check --diff OLD NEW [--deny-widening]

  -c, --config FILE   the config to check
  --format F          human (default) or json
Exit 0 clean or warnings only, 1 error findings, 2 unusable config.

  --diff OLD NEW      print each tenant-to-tenant path the change opens (+) or closes (-)
  --deny-widening     exit 1 when any path opens (for CI)
Exit 0 (1 with --deny-widening and an opened path), 2 when either file is unusable.`,
    load: () => import("./check.js"),
  },
  {
    name: "init",
    summary: "write an example config and a development PKI to start from",
    usage: `palisade init [DIR] [--force]

  DIR       where to write (default: palisade); DIR/palisade.yaml, DIR/palisade.schema.json
            and DIR/pki/ (tenants acme and globex, service orders; development only)
  --force   overwrite an existing DIR/palisade.yaml
Then: palisade check -c DIR/palisade.yaml`,
    load: () => import("./init.js"),
  },
  {
    name: "certs init",
    summary: "write a development PKI (one CA per tenant, one SVID per tenant and service)",
    usage: `palisade certs init --tenants a,b --services x,y [--out DIR] [--trust-domain D] [--days N]

  --tenants a,b        tenant ids
  --services x,y       service names
  --out DIR            default pki; an existing CA there is kept, leaves are renewed
  --trust-domain D     default mesh.local
  --days N             leaf validity, default 365`,
    load: () => import("./certs.js"),
  },
  {
    name: "certs cert-manager",
    summary: "print cert-manager Issuers and Certificates: a CA per tenant, an SVID per pair",
    usage: `palisade certs cert-manager --tenants a,b --services x,y [--trust-domain D] [--namespace N]

  --tenants a,b        tenant ids: one CA Issuer each
  --services x,y       service names: one Certificate per tenant and service
  --trust-domain D     default mesh.local
  --namespace N        the namespace of the printed objects
Multi-document YAML on stdout, for kubectl apply -f -. See docs/kubernetes.md.`,
    load: () =>
      import("../deploy/cert-manager-command.js").then((m) => ({
        main: (args: string[]) => Promise.resolve(m.certManagerCommand(args)),
      })),
  },
  {
    name: "inject",
    summary: "add the sidecar to Kubernetes workloads (YAML in, YAML out)",
    usage: `palisade inject -f FILE|- --tenants a,b [--service S] [--config-map NAME] [--image IMAGE]

  -f, --filename FILE   multi-document YAML, or - for stdin; the result goes to stdout
  --tenants a,b         the tenants served: one certificate Secret each is mounted
  --service S           Secrets are palisade-<tenant>-<service>, as certs cert-manager
                        names them (default: each workload's own name)
  --config-map NAME     the ConfigMap holding palisade.yaml (default palisade-config)
  --image IMAGE         default ghcr.io/palisade-mesh/palisade:<this version>
Idempotent. Pods that cannot take the sidecar (hostNetwork, an Istio sidecar, a port or
HTTP_PROXY of its own) are left unchanged, with a warning on stderr. See docs/inject.md.`,
    load: () => import("../inject/command.js"),
  },
  {
    name: "uninject",
    summary: "remove what inject added",
    usage: `palisade uninject -f FILE|-

  -f, --filename FILE   multi-document YAML, or - for stdin; the result goes to stdout`,
    load: () => import("../inject/command.js").then((m) => ({ main: m.uninjectMain })),
  },
  {
    name: "probe",
    summary: "attack a running sidecar's inbound listener (exit 1 on any leak)",
    usage: `palisade probe --target HOST:PORT --pki DIR --tenant T --other U [options]

  --target HOST:PORT    the inbound listener
  --pki DIR             a PKI laid out as certs init writes it
  --tenant T            the tenant to probe as; --other U: another tenant to reach for
  --service S           whose SVID to use (default: the first in the tenant's folder)
  --server-name NAME    SNI and authority to send (default: none, the target)
  --prefix P            tenant path prefix, default /tenants/{tenant}
  --format F            human (default) or json
  --allow-writes        also try cross-tenant writes
  --timeout D           one exchange, default 5s
  --deadline D          how long an idle, unauthenticated socket may stay open, default 30s
Exit 0 when every case held, 1 on any failure or leak, 2 when unusable. See docs/probe.md.`,
    load: () => import("./probe.js"),
  },
  {
    name: "top",
    summary: "live per tenant and peer: rps, success rate, p50/p99 latency, denials",
    usage: `palisade top [--admin URL] [--interval S] [--once]

  --admin URL      the sidecar's admin listener (default http://127.0.0.1:15000)
  --interval S     seconds between redraws, default 2
  --once           print one table and exit (for scripts)
Per direction, caller tenant and peer (calling service inbound, upstream outbound) over the
sidecar's sliding window. Exit 1 when the admin listener cannot be read. See docs/live-view.md.`,
    load: () => import("./top.js"),
  },
  {
    name: "tap",
    summary: "stream request events from a running sidecar as they happen",
    usage: `palisade tap [--admin URL] [--tenant T] [--decision D] [--json]

  --admin URL      the sidecar's admin listener (default http://127.0.0.1:15000)
  --tenant T       only requests made by or to tenant T
  --decision D     allowed, granted, denied or refused
  --json           one JSON object per line instead of text
One line per completed request: time, direction, caller/peer -> target, method, path (no
query), status, decision and code, duration, request id. Exit 1 when the stream ends or
cannot be opened. See docs/live-view.md.`,
    load: () => import("./tap.js"),
  },
  {
    name: "demo",
    summary: "run a demo mesh on loopback (what npm start does)",
    usage: `palisade demo [--port-base N] [--dir DIR]

  --port-base N   the lowest port; the others keep their offsets (default 15000: web
                  sidecar 15000/15001/15006/15020, apps 15080/15081, orders sidecar
                  15100/15101/15106/15120). Beside an Istio sidecar, which uses the
                  defaults, pick another, e.g. 25000. 0: ephemeral ports. At most 65415.
  --dir DIR       where the demo writes its PKI and configs (default .demo)`,
    load: () => import("./demo.js"),
  },
  {
    name: "schema",
    summary: "print the config's JSON Schema",
    usage: `palisade schema`,
    load: () => import("./schema.js"),
  },
];
