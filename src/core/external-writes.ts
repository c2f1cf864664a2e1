import type { Db } from './db';

/**
 * Calls `onChange` (at most every `everyMs`) when other connections — another process such as the CLI
 * or a model server — committed to the database. SQLite's data_version changes only for commits made
 * elsewhere, so this connection's own writes never trigger it, and checking costs one pragma read.
 * `onChange` may be async: no new call starts before the last one settles. Returns the stop function.
 */
export function watchExternalWrites(db: Db, everyMs: number, onChange: () => unknown): () => void {
  if (everyMs <= 0) return () => {};
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  let seen = dataVersion.get();
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    const now = dataVersion.get();
    if (now === seen) return;
    seen = now;
    busy = true;
    Promise.resolve()
      .then(onChange)
      .catch(() => {})
      .finally(() => (busy = false));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
