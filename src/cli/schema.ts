/** `palisade schema`: the config's JSON Schema, for editors and `config/palisade.schema.json`. */
import { parseFlags } from "./flags.js";

export async function main(args: string[]): Promise<number> {
  parseFlags(args, {});
  const [{ z }, { configSchema }] = await Promise.all([
    import("zod"),
    import("../config/schema.js"),
  ]);
  const schema = z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" });
  process.stdout.write(`${JSON.stringify(schema, null, 2)}\n`);
  return 0;
}
