/**
 * First in, first out, at most `limit` running at once. `start` is called for an item when a slot is
 * free; the item's slot frees when the promise `start` returned settles.
 */
export class JobQueue<T> {
  private readonly waiting: T[] = [];
  private running = 0;

  constructor(
    private readonly limit: number,
    private readonly start: (item: T) => Promise<unknown>,
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`the concurrency limit must be a whole number ≥ 1, got ${limit}`);
  }

  /** True when the item starts now, false when it waits for a slot. */
  add(item: T): boolean {
    if (this.running < this.limit) {
      this.run(item);
      return true;
    }
    this.waiting.push(item);
    return false;
  }

  /** Counts an item that is already running (reattached after a restart) against the limit. */
  occupy(done: Promise<unknown>): void {
    this.running++;
    const release = () => this.release();
    done.then(release, release);
  }

  /** Takes a waiting item out; false when it is not waiting (already started or unknown). */
  remove(item: T): boolean {
    const at = this.waiting.indexOf(item);
    if (at < 0) return false;
    this.waiting.splice(at, 1);
    return true;
  }

  /** Drops every waiting item (the server is closing) and returns them. */
  drain(): T[] {
    return this.waiting.splice(0);
  }

  get size(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  /** Starts the item at once (not on a later tick), so a caller can await what `start` set up. */
  private run(item: T): void {
    let started: Promise<unknown>;
    try {
      started = this.start(item);
    } catch (err) {
      started = Promise.reject(err);
    }
    this.occupy(started);
  }

  private release(): void {
    this.running--;
    const next = this.waiting.shift();
    if (next !== undefined) this.run(next);
  }
}
