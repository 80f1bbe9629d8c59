/**
 * Path globs for grants, compiled once per config generation and matched against the
 * segments of a canonical path (request-path.ts) without building a regex per request.
 *
 * - `*` is exactly one non-empty segment; `**` is zero or more segments of any content.
 *   Both only as whole segments: `report-*` is refused, not read as a prefix match.
 * - Literal segments match exactly and case-sensitively. Globs match the raw path, so a
 *   request that percent-encodes a letter (`%72eports`) never matches `reports`: deny.
 *   `*` and `**` can match an encoded segment, but never one that an app's decoding or
 *   Unicode normalisation could read as `..` or `/` (`%EF%BC%8E%EF%BC%8E` is `．．`):
 *   canonicalPath refuses those paths before any glob sees them.
 * - A trailing slash is significant, as it is to the canonical path: `/reports` matches
 *   only `/reports`, `/reports/` matches only `/reports/`. Many routers treat the two
 *   alike, so a grant for one never widens to the other; write `/reports/**` to mean the
 *   collection, which matches `/reports`, `/reports/` and everything below.
 * - Refused when compiled: `.`/`..` segments (also `..;x`), empty segments other than a
 *   trailing slash, `%`, `\`, `?`, `#`, `{`/`}` (grants name concrete tenants; a
 *   `{tenant}` placeholder would silently never match), whitespace, control and non-ASCII
 *   characters. Each would only ever match a path that canonicalPath refuses, so it can
 *   only be a mistake in the config.
 */
import { isDotLikeSegment } from "./request-path.js";

export interface PathGlob {
  readonly source: string;
  matches(segments: readonly string[]): boolean;
}

export class PathGlobError extends Error {
  constructor(
    readonly glob: string,
    readonly problem: string,
  ) {
    super(`invalid path glob ${JSON.stringify(glob)}: ${problem}`);
    this.name = "PathGlobError";
  }
}

/** One segment: `ONE` is `*`, `ANY` is `**`, a string is a literal. */
const ONE = 1;
const ANY = 2;
type Token = string | typeof ONE | typeof ANY;

/** Why `glob` is not a valid path glob, or undefined when it is. For config validation. */
export function pathGlobProblem(glob: string): string | undefined {
  if (glob.charCodeAt(0) !== 0x2f) return "must start with /";
  for (let i = 0; i < glob.length; i++) {
    const c = glob.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f)
      return "whitespace, control and non-ASCII characters are not allowed";
    if (c === 0x25) return "percent-encoding is not allowed (globs match the raw path)";
    if (c === 0x5c) return "backslashes are not allowed";
    if (c === 0x3f || c === 0x23) return "query and fragment are not part of a path glob";
    if (c === 0x7b || c === 0x7d)
      return "placeholders are not supported; name the tenant literally";
  }
  const parts = glob.slice(1).split("/");
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (part === "" && i !== parts.length - 1) return "empty segment (//)";
    if (isDotLikeSegment(part)) return "dot segments are not allowed";
    // Such a segment is refused in every request path, so the glob could never match.
    if (part.startsWith(";"))
      return "a segment cannot start with ; (it is empty once parameters are stripped)";
    if (part.includes("*") && part !== "*" && part !== "**") {
      return "* and ** are only allowed as whole segments";
    }
  }
  return undefined;
}

export function compilePathGlob(glob: string): PathGlob {
  const problem = pathGlobProblem(glob);
  if (problem !== undefined) throw new PathGlobError(glob, problem);
  const tokens: Token[] = glob
    .slice(1)
    .split("/")
    .map((part) => (part === "**" ? ANY : part === "*" ? ONE : part));
  const fixed = tokens.filter((t) => t !== ANY).length;
  const open = fixed !== tokens.length;
  return {
    source: glob,
    matches: open
      ? (segments) => segments.length >= fixed && matchOpen(tokens, segments)
      : (segments) => segments.length === fixed && matchFixed(tokens, segments),
  };
}

function matchSegment(token: Token, segment: string): boolean {
  return token === ONE ? segment !== "" : token === segment;
}

function matchFixed(tokens: readonly Token[], segments: readonly string[]): boolean {
  for (let i = 0; i < tokens.length; i++) {
    if (!matchSegment(tokens[i] as Token, segments[i] as string)) return false;
  }
  return true;
}

/**
 * Wildcard matching with `**` as the only variable-length token: greedy, backtracking
 * only to the latest `**`, so O(tokens × segments) at worst and no recursion.
 */
function matchOpen(tokens: readonly Token[], segments: readonly string[]): boolean {
  let t = 0;
  let s = 0;
  let anyAt = -1;
  let resumeAt = 0;
  while (s < segments.length) {
    const token = tokens[t];
    if (token === ANY) {
      anyAt = t++;
      resumeAt = s;
    } else if (token !== undefined && matchSegment(token, segments[s] as string)) {
      t++;
      s++;
    } else if (anyAt !== -1) {
      // Let the latest `**` swallow one more segment and retry from there.
      t = anyAt + 1;
      s = ++resumeAt;
    } else {
      return false;
    }
  }
  while (tokens[t] === ANY) t++;
  return t === tokens.length;
}
