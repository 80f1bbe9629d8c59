/**
 * Runs a server script under node:cluster with N workers, each a full copy of the script
 * (a whole `palisade run`, or one bare proxy), sharing its listening sockets through the
 * cluster module. The experiment of bench/cluster.mjs; not how Palisade runs.
 *
 * usage: node bench/servers/cluster-launch.mjs N rr|none SCRIPT [ARGS...]
 *   rr    the primary accepts and hands connections to workers in turn (SCHED_RR)
 *   none  every worker accepts on the shared socket; the kernel picks (SCHED_NONE)
 *
 * A worker that exits while not stopping ends the launcher with status 1, so a benchmark
 * never measures fewer workers than it says. SIGTERM is passed to every worker.
 */
import cluster from "node:cluster";

const [count, policy, script, ...args] = process.argv.slice(2);
const workers = Number(count);
if (!Number.isInteger(workers) || workers < 1 || !["rr", "none"].includes(policy) || !script) {
  process.stderr.write("usage: cluster-launch.mjs N rr|none SCRIPT [ARGS...]\n");
  process.exit(2);
}
cluster.schedulingPolicy = policy === "none" ? cluster.SCHED_NONE : cluster.SCHED_RR;
cluster.setupPrimary({ exec: script, args });
for (let i = 0; i < workers; i++) cluster.fork();

let stopping = false;
cluster.on("exit", (worker, code, signal) => {
  if (!stopping) {
    process.stderr.write(`cluster-launch: worker ${worker.id} exited (${code ?? signal})\n`);
    process.exit(1);
  }
  if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
});
process.on("SIGTERM", () => {
  stopping = true;
  for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
});
