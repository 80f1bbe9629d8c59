/**
 * `node --import` preload: at exit, writes to `$PALISADE_RECORD_PACKAGES` the npm packages
 * the process loaded through Node's CommonJS loader (every package of a `require` or of an
 * ESM import of a CommonJS package, node-forge included), as a JSON array of names.
 */
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const out = process.env.PALISADE_RECORD_PACKAGES;
const PACKAGE =
  /[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)[\\/](?!.*[\\/]node_modules[\\/])/;

if (out) {
  process.on("exit", () => {
    const names = new Set();
    for (const file of Object.keys(require.cache)) {
      const name = PACKAGE.exec(file)?.[1];
      if (name) names.add(name.replace("\\", "/"));
    }
    writeFileSync(out, JSON.stringify([...names].sort()));
  });
}
