/** prom-client's label hash (lib/util.js), the key of every metric's `hashMap`. */
declare module "prom-client/lib/util.js" {
  export function hashObject(
    labels: Record<string, string | number>,
    labelNames?: readonly string[],
  ): string;
}
