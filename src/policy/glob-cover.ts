/**
 * Whether one grant path glob covers another: every path the inner glob matches, the
 * outer one matches too. `check --diff` uses it so that narrowing a grant
 * (`/reports/**` → `/reports/q3/**`) is never reported as opening a path.
 *
 * Globs are those path-glob.ts compiles (already validated): whole segments, `*` is one
 * non-empty segment, `**` any number of segments (empty ones too), a trailing slash is an
 * empty last segment.
 */

const ONE = 1;
const ANY = 2;
type Token = string | typeof ONE | typeof ANY;

function tokens(glob: string): Token[] {
  return glob
    .slice(1)
    .split("/")
    .map((part) => (part === "**" ? ANY : part === "*" ? ONE : part));
}

export function globCovers(outer: string, inner: string): boolean {
  if (outer === inner) return true;
  const a = tokens(outer);
  const b = tokens(inner);
  const memo = new Map<number, boolean>();
  // covers(i, j): a[i..] matches everything b[j..] matches.
  const covers = (i: number, j: number): boolean => {
    const key = i * (b.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    const result = step(i, j);
    memo.set(key, result);
    return result;
  };
  const step = (i: number, j: number): boolean => {
    if (i === a.length) return j === b.length;
    const outerToken = a[i] as Token;
    if (outerToken === ANY) return covers(i + 1, j) || (j < b.length && covers(i, j + 1));
    if (j === b.length) return false;
    const innerToken = b[j] as Token;
    if (innerToken === ANY) return false;
    if (outerToken === ONE)
      return innerToken === ONE || (innerToken !== "" && covers(i + 1, j + 1));
    return innerToken === outerToken && covers(i + 1, j + 1);
  };
  return covers(0, 0);
}
