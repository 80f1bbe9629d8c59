/**
 * The package's version, read from its package.json: `src/` (tests, tsx) and `dist/` (the
 * installed package) are both one level below it.
 */
import { readFileSync } from "node:fs";

export function packageVersion(): string {
  const text = readFileSync(new URL("../package.json", import.meta.url), "utf8");
  return (JSON.parse(text) as { version: string }).version;
}
