/**
 * The command line's manners, in process: help on stdout with exit 0, and for every kind of
 * bad flag one line on stderr naming the problem and the way to the help, exit 2. The
 * process-level wiring (exit status, stdin, stdout) is test/cli.test.ts.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { COMMANDS } from "./commands.js";
import { runCli } from "./main.js";
import { MAX_PORT_BASE } from "../demo.js";

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await runCli(args, { out: (t) => (stdout += t), err: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

describe("help and version", () => {
  it("palisade --help lists every command on stdout, exit 0", async () => {
    for (const flag of ["--help", "-h", "help"]) {
      const { code, stdout, stderr } = await cli([flag]);
      expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
      for (const c of COMMANDS) expect(stdout).toContain(`  ${c.name} `);
    }
  });

  it("palisade --version prints the package version", async () => {
    const { version } = JSON.parse(
      readFileSync(new URL("../../package.json", import.meta.url), "utf8"),
    ) as { version: string };
    expect(await cli(["--version"])).toEqual({ code: 0, stdout: `${version}\n`, stderr: "" });
  });

  it.each(COMMANDS.map((c) => c.name))("palisade %s --help: its usage, exit 0", async (name) => {
    for (const flag of ["--help", "-h"]) {
      const { code, stdout, stderr } = await cli([...name.split(" "), "-c", "x", flag]);
      expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
      expect(stdout).toMatch(new RegExp(`^usage: palisade ${name}\\b`));
    }
  });

  it("palisade certs --help lists the group", async () => {
    const { code, stdout } = await cli(["certs", "--help"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^usage: palisade certs init /);
  });
});

it("a command's unforeseen failure is one line naming the whole command, exit 2", async () => {
  const args = [
    "certs",
    "init",
    "--tenants",
    "a",
    "--services",
    "b",
    "--trust-domain",
    "bad domain",
  ];
  expect(await cli(args)).toEqual({
    code: 2,
    stdout: "",
    stderr: "palisade certs init: not a trust domain: bad domain\n",
  });
});

describe("usage errors: one line naming the problem, exit 2", () => {
  it.each([
    [[], /^palisade: no command given\n/],
    [["deploy"], /^palisade: unknown command "deploy"\n/],
    [["certs", "rotate"], /^palisade: unknown command "certs rotate"\n/],
    [["certs"], /^palisade certs: which one\?\n/],
    [["run"], /^palisade run: -c, --config is required\n/],
    [["run", "-c"], /^palisade run: Option '-c, --config <value>' argument missing\n/],
    [["run", "-c", "x.yaml", "--port", "1"], /^palisade run: Unknown option '--port'\n/],
    [
      ["run", "-c", "x.yaml", "extra"],
      /^palisade run: Unexpected argument 'extra'|unexpected argument/,
    ],
    [
      ["check", "-c", "x.yaml", "--format", "xml"],
      /--format must be one of human, json, not "xml"/,
    ],
    [
      ["check", "--diff", "old.yaml"],
      /^palisade check: --diff compares two configs: --diff OLD NEW\n/,
    ],
    [["check", "--diff", "a", "b", "c"], /^palisade check: unexpected argument "c"\n/],
    [["check", "-c", "x.yaml", "--deny-widening"], /--deny-widening goes with --diff/],
    [["check", "x.yaml"], /^palisade check: unexpected argument "x.yaml"\n/],
    [["certs", "init", "--tenants", "Acme", "--services", "web"], /"Acme" is not a DNS label/],
    [["certs", "init", "--tenants", "a", "--services", "web", "--days", "soon"], /--days must be/],
    [["probe", "--target", "x:1", "--pki", "p", "--tenant", "a", "--other", "a"], /must differ/],
    [
      ["probe", "--target", "x:1", "--pki", "p", "--tenant", "a", "--other", "b", "--timeout", "5"],
      /--timeout/,
    ],
    [["inject", "-f", "-"], /^palisade inject: --tenants is required\n/],
    [["inject", "-f", "-", "--tenants", "a,a"], /names a tenant twice/],
    [
      ["inject", "-f", "-", "--tenants", "a", "--config-map", "Bad_Name"],
      /not a Kubernetes object name/,
    ],
    [["uninject"], /^palisade uninject: -f, --filename is required\n/],
    [
      ["demo", "--port-base", String(MAX_PORT_BASE + 1)],
      /--port-base must be 0 to 65415 \(the demo's highest port is the base \+ 120\)/,
    ],
    [["demo", "--port-base", "-1"], /^palisade demo: /],
    [["demo", "--port-base", "15e3"], /--port-base must be/],
    [["init", "a", "b"], /^palisade init: unexpected argument "b"\n/],
  ])("palisade %j", async (args, message) => {
    const { code, stdout, stderr } = await cli(args);
    expect({ code, stdout }).toEqual({ code: 2, stdout: "" });
    expect(stderr).toMatch(message);
    expect(stderr).toMatch(/\nRun 'palisade[a-z ]*--help' for usage\.\n$/);
  });
});
