/**
 * A long harness stopped by Ctrl-C, `timeout` or `kill` still removes what it made: on SIGINT
 * or SIGTERM, `cleanup` runs once and the process exits with 128 + the signal's number. (A
 * soak killed with SIGTERM once left its daemon, two containers and their cgroups behind.)
 */
export function onInterrupt(cleanup: () => Promise<void>): void {
  let running = false;
  const handler = (signal: NodeJS.Signals) => {
    if (running) return;
    running = true;
    process.stderr.write(`${signal}: cleaning up before exiting\n`);
    void cleanup()
      .catch((err) => process.stderr.write(`cleanup failed: ${String(err)}\n`))
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}
