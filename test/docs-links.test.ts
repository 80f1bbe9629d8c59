/**
 * Every relative link in README.md, bench/README.md and docs/*.md names a file in the
 * repository, and every `#anchor` names a heading of its target (GitHub's slugs). Hermetic:
 * no network, external links are not followed.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DOCS = [
  "README.md",
  "bench/README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];
/** Markdown without fenced blocks and code spans, where `[x](y)` and `# x` are not markup. */
function prose(markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "").replace(/`[^`\n]*`/g, "");
}

function links(markdown: string): string[] {
  return [...prose(markdown).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] ?? "");
}

/** GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const ids = new Set<string>();
  const withoutFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");
  for (const [, heading] of withoutFences.matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const text = (heading ?? "").replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replaceAll("`", "");
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    ids.add(n === 0 ? base : `${base}-${n}`);
  }
  return ids;
}

function broken(file: string): string[] {
  const text = readFileSync(join(ROOT, file), "utf8");
  return links(text)
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target))
    .flatMap((target) => {
      const [path = "", anchor] = target.split("#", 2);
      const resolved = path === "" ? join(ROOT, file) : join(ROOT, dirname(file), path);
      const name = relative(ROOT, resolved);
      if (!existsSync(resolved)) return [`${target} (no file ${name})`];
      if (anchor === undefined || !resolved.endsWith(".md")) return [];
      return anchors(readFileSync(resolved, "utf8")).has(anchor)
        ? []
        : [`${target} (no heading #${anchor} in ${name})`];
    });
}

describe("documentation links", () => {
  it("finds the documents and their links", () => {
    expect(DOCS).toContain("docs/config.md");
    expect(links(readFileSync(join(ROOT, "README.md"), "utf8")).length).toBeGreaterThan(10);
  });

  it.each(DOCS)("%s: every relative link and anchor resolves", (file) => {
    expect(broken(file)).toEqual([]);
  });

  it("slugs headings the way GitHub does", () => {
    const ids = anchors(
      "# The `palisade check` command\n## Rules, *and* more\n## Rules, and more\n```\n# not a heading\n```\n",
    );
    expect([...ids]).toEqual(["the-palisade-check-command", "rules-and-more", "rules-and-more-1"]);
  });
});
