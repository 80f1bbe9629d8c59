/**
 * A sidecar, composed, reloaded and drained by src/runtime/: compose.ts builds it,
 * reloader.ts swaps generations and notifies subscribers (order: subscribers.ts), drain.ts
 * stops it.
 */
export { Sidecar, type SidecarAddresses, type SidecarOptions } from "./runtime/sidecar.js";
