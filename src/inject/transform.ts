/**
 * `palisade inject` and `uninject` over a multi-document YAML stream.
 *
 * A document whose content does not change is written back byte for byte (Services,
 * ConfigMaps, an already injected workload), so inject twice equals inject once. A changed
 * document is printed by the `yaml` package, which keeps its comments, key order and
 * quoting; its sequence indentation follows the document's own.
 */
import { isDeepStrictEqual } from "node:util";
import { parseAllDocuments, type Document } from "yaml";
import { podTemplates } from "./pod-templates.js";
import { injectPod, isInjected, uninjectPod } from "./patch.js";
import type { InjectOptions } from "./sidecar.js";

export class UnusableInput extends Error {}

export interface TransformResult {
  output: string;
  /** One line per pod left as it was, and why. */
  warnings: string[];
}

/** `options` absent: uninject. */
export function transform(text: string, options?: InjectOptions): TransformResult {
  const docs = parse(text);
  if (docs.length === 0) return { output: text, warnings: [] }; // comments only, or nothing
  const warnings: string[] = [];
  const pieces = docs.map((doc, i) => {
    const start = i === 0 ? 0 : docStart(docs[i]);
    const end = i + 1 < docs.length ? docStart(docs[i + 1]) : text.length;
    const source = text.slice(start, end);
    const before = plain(doc, i);
    for (const pod of podTemplates(doc.contents)) {
      const where = `document ${i + 1}, ${pod.name}`;
      if (typeof pod.template === "string") {
        if (options) warnings.push(`${where}: ${pod.template}; left unchanged`);
        continue;
      }
      if (isInjected(pod.template)) uninjectPod(pod.template);
      if (!options) continue;
      const refusal = injectPod(doc, pod.template, options, pod.workload);
      if (refusal) warnings.push(`${where}: ${refusal}; left unchanged`);
    }
    if (isDeepStrictEqual(plain(doc, i), before)) return source;
    const printed = doc.toString({
      indentSeq: indentsSequences(source),
      flowCollectionPadding: padsFlowCollections(source),
      lineWidth: 0,
    });
    return source.includes("\r\n") ? printed.replace(/\n/g, "\r\n") : printed;
  });
  return { output: pieces.join(""), warnings };
}

function parse(text: string): Document[] {
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  for (const [i, doc] of docs.entries()) {
    const error = doc.errors[0];
    if (error) throw new UnusableInput(`document ${i + 1}: ${error.message}`);
  }
  return docs;
}

function docStart(doc: Document | undefined): number {
  return doc?.range?.[0] ?? 0;
}

/** The document's data; an alias bomb or an unresolvable alias is unusable input. */
function plain(doc: Document, i: number): unknown {
  try {
    return doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new UnusableInput(`document ${i + 1}: ${(err as Error).message}`);
  }
}

/**
 * `kubectl get -o yaml` writes `containers:\n- name:`; the `yaml` package indents by
 * default. The first block sequence under a key decides.
 */
function indentsSequences(source: string): boolean {
  const match = /^( *)[^\s#-][^\n]*:[ \t]*(?:#[^\n]*)?\r?\n( *)- /m.exec(source);
  return !match || (match[2] ?? "").length > (match[1] ?? "").length;
}

/** `[a, b]` or `[ a, b ]`: the first non-empty flow collection after a key decides. */
function padsFlowCollections(source: string): boolean {
  const match = /:[ \t]+[[{](?![\]}])(.)/.exec(source);
  return match?.[1] !== undefined ? match[1] === " " : true;
}
