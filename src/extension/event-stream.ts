import type { ChangeEvent } from '../core/events';
import type { TrellisClient } from '../client/trellis-client';

/**
 * Follows the server's change stream (/api/trellis/events, server-sent events) and reconnects with a
 * growing pause when it drops, so views refresh on changes instead of polling.
 */
export class EventStream {
  private readonly abort = new AbortController();
  private stopped = false;

  constructor(
    private readonly client: TrellisClient,
    private readonly onEvent: (event: ChangeEvent) => void,
    private readonly log: (line: string) => void,
    /** Called when the stream drops; the owner can check whether the server is still there. */
    private readonly onDrop: () => void = () => {},
  ) {
    void this.loop();
  }

  dispose(): void {
    this.stopped = true;
    this.abort.abort();
  }

  private async loop(): Promise<void> {
    let pause = 500;
    while (!this.stopped) {
      try {
        const res = await this.client.openEventStream(this.abort.signal);
        pause = 500;
        await this.read(res.body);
      } catch (err) {
        if (this.stopped) return;
        this.log(`event stream: ${(err as Error).message}; reconnecting in ${pause} ms`);
      }
      if (this.stopped) return;
      this.onDrop();
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 10_000);
    }
  }

  private async read(body: AsyncIterable<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of body) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
        if (!data) continue; // comments (": heartbeat") keep the connection open
        try {
          this.onEvent(JSON.parse(data) as ChangeEvent);
        } catch (err) {
          this.log(`event stream: skipped an event that is not JSON (${(err as Error).message})`);
        }
      }
    }
  }
}
