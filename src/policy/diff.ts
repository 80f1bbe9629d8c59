/**
 * `palisade check --diff OLD NEW`: which tenant-to-tenant paths a policy change opens and
 * which it closes, so a reviewer sees the blast radius before merging. Pure: two validated
 * configs and a time in, sorted lines out.
 *
 * `+ globex -> acme GET /tenants/acme/reports/**` opens a path, `- …` closes one. A grant
 * line that appears but was already open under a broader old glob, with no more of the
 * response leaving, is shown with `(already open under …)` and does not count as opening;
 * one that goes away while a broader new glob still opens it says `(still open under …)`.
 * So widening `/reports/q3/**` to `/reports/**` prints the new line as opening and the old
 * one as covered, and narrowing never counts as widening. A line whose path stays but
 * whose response reveals more (fields added, a mask dropped) opens too.
 */
import type { Config } from "../config/schema.js";
import { accessKey, openPaths, type AccessLine } from "./access.js";
import { describeExposure, exposureCovers } from "./exposure.js";
import { globCovers } from "./glob-cover.js";
import { policyItems, scopesOf } from "./rules.js";

export interface DiffLine {
  readonly sign: "+" | "-";
  readonly text: string;
  /** Whether this line widens access (`--deny-widening` fails on any). */
  readonly opens: boolean;
}

export interface PolicyDiff {
  readonly lines: readonly DiffLine[];
  readonly widens: boolean;
}

export function diffPolicies(before: Config, after: Config, now: Date): PolicyDiff {
  const lines = [...diffAccess(before, after, now), ...diffItems(before, after, now)];
  lines.sort(compareLines);
  return { lines, widens: lines.some((l) => l.opens) };
}

/** One line as printed: `+ text`. */
export function renderLine(line: DiffLine): string {
  return `${line.sign} ${line.text}`;
}

function diffAccess(before: Config, after: Config, now: Date): DiffLine[] {
  const old = openPaths(before, now);
  const next = openPaths(after, now);
  const lines: DiffLine[] = [];
  for (const [key, line] of next) {
    const was = old.get(key);
    if (was === undefined) {
      const cover = coveringLine(old, line);
      const note = cover === undefined ? "" : ` (already open under ${cover.path})`;
      lines.push({ sign: "+", text: describe(line) + note, opens: cover === undefined });
    } else if (!exposureCovers(was.exposure, line.exposure)) {
      lines.push({
        sign: "+",
        text: `${describe(line)} (was ${describeExposure(was.exposure)})`,
        opens: true,
      });
    } else if (!exposureCovers(line.exposure, was.exposure)) {
      lines.push({
        sign: "-",
        text: `${describe(line)} (was ${describeExposure(was.exposure)})`,
        opens: false,
      });
    }
  }
  for (const [key, line] of old) {
    if (next.has(key)) continue;
    const cover = coveringLine(next, line);
    const note = cover === undefined ? "" : ` (still open under ${cover.path})`;
    lines.push({ sign: "-", text: describe(line) + note, opens: false });
  }
  return foldHead(lines);
}

/** A line of `lines` that opens everything `line` opens, with at least its exposure. */
function coveringLine(
  lines: ReadonlyMap<string, AccessLine>,
  line: AccessLine,
): AccessLine | undefined {
  for (const other of lines.values()) {
    if (other.from !== line.from || other.to !== line.to || other.method !== line.method) continue;
    if (globCovers(other.path, line.path) && exposureCovers(other.exposure, line.exposure))
      return other;
  }
  return undefined;
}

function describe(line: AccessLine): string {
  const base = accessKey(line);
  return line.exposure === "whole" ? base : `${base} fields: ${describeExposure(line.exposure)}`;
}

/** HEAD comes with GET: its line is shown only where GET's is not, with the same sign. */
function foldHead(lines: DiffLine[]): DiffLine[] {
  const shown = new Set(lines.map((l) => `${l.sign} ${l.text}`));
  return lines.filter((l) => {
    const match = / HEAD /.exec(l.text);
    if (!match) return true;
    const asGet = `${l.sign} ${l.text.replace(" HEAD ", " GET ")}`;
    return !shown.has(asGet);
  });
}

function diffItems(before: Config, after: Config, now: Date): DiffLine[] {
  const old = policyItems(before, now);
  const next = policyItems(after, now);
  const inBoth = intersect(scopesOf(before), scopesOf(after));
  const lines: DiffLine[] = [];
  for (const [key, item] of next) {
    if (old.has(key) || (item.scope !== undefined && !inBoth.has(item.scope))) continue;
    const opens = item.kind === "opening";
    lines.push({ sign: opens ? "+" : "-", text: item.added, opens });
  }
  for (const [key, item] of old) {
    if (next.has(key) || (item.scope !== undefined && !inBoth.has(item.scope))) continue;
    const opens = item.kind === "guard";
    lines.push({ sign: opens ? "+" : "-", text: item.removed, opens });
  }
  return lines;
}

function intersect(a: ReadonlySet<string>, b: ReadonlySet<string>): Set<string> {
  return new Set([...a].filter((x) => b.has(x)));
}

/** By text, then `-` before `+`: the same change always prints the same way. */
function compareLines(a: DiffLine, b: DiffLine): number {
  if (a.text !== b.text) return a.text < b.text ? -1 : 1;
  return a.sign === b.sign ? 0 : a.sign === "-" ? -1 : 1;
}
