// Writes docs/config.md from the config schema: `npm run docs:config` (run by tsx, since it
// imports the TypeScript sources). test/config-reference.test.ts fails when the file is stale.
import { writeFileSync } from "node:fs";
import { renderConfigReference } from "../src/config/reference.ts";

writeFileSync(new URL("../docs/config.md", import.meta.url), renderConfigReference());
