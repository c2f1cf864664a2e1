/**
 * On SIGINT or SIGTERM, say what is being finished, run `close` once (draining requests, checkpointing,
 * stopping workers) and exit 0, or 1 when closing failed.
 */
export function closeOnSignals(close: () => Promise<void>, finishing: string): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`${signal}: ${finishing}…\n`);
    close().then(
      () => process.exit(0),
      (err: Error) => {
        process.stderr.write(`shutdown failed: ${err.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}
