// A small test registry for code that runs inside the extension host, where node:test's runner is not
// in charge of the process. Results go back to the driver as JSON (see index.ts).

export interface Result {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
  /** Lines a test wants in the driver's output (measurements). */
  notes: string[];
}

type TestFn = (note: (line: string) => void) => Promise<void> | void;
const tests: { name: string; fn: TestFn }[] = [];

/** Registers a test; tests run in registration order, each after the previous one finished. */
export function test(name: string, fn: TestFn): void {
  tests.push({ name, fn });
}

export async function runAll(): Promise<Result[]> {
  const results: Result[] = [];
  for (const { name, fn } of tests) {
    const notes: string[] = [];
    const started = Date.now();
    try {
      await fn((line) => notes.push(line));
      results.push({ name, ok: true, ms: Date.now() - started, notes });
    } catch (err) {
      results.push({ name, ok: false, ms: Date.now() - started, error: (err as Error).stack ?? String(err), notes });
    }
  }
  return results;
}

/** Polls until `check` returns a value other than undefined/false, or fails with `what` after `ms`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}
