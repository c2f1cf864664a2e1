import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import type { StreamName } from '../../engines/docker/containers';

export interface LogLine {
  stream: StreamName | 'trellis';
  line: string;
  time: number;
}

/** Lines a follower that joins late is first given; older ones are in the saved log files. */
const BACKLOG_LINES = 10_000;
/** Lines kept for the failure tag. */
const TAIL_LINES = 20;

/**
 * A job's output: each line written to its stream's file (the run's `logs/stdout.log`, `logs/stderr.log`)
 * as it arrives and handed to live followers; the last lines are kept for the failure message.
 * `trellis` lines are the platform's own notes (building, stopping), shown to followers only.
 */
export class LogCapture {
  private readonly files: Record<StreamName, WriteStream>;
  private readonly backlog: LogLine[] = [];
  private readonly tailLines: LogLine[] = [];
  private readonly followers = new Set<(line: LogLine) => void>();
  private closed: Promise<void> | undefined;

  constructor(paths: Record<StreamName, string>) {
    const open = (path: string) => {
      mkdirSync(dirname(path), { recursive: true });
      // 'w': a reattached job replays the container's whole log, so the file is rewritten from the start.
      // A log file that cannot be written (disk full, run folder deleted) must not take the server down;
      // followers still get every line.
      return createWriteStream(path, { flags: 'w' }).on('error', () => {});
    };
    this.files = { stdout: open(paths.stdout), stderr: open(paths.stderr) };
  }

  add(stream: LogLine['stream'], line: string): void {
    const entry = { stream, line, time: Date.now() };
    if (stream !== 'trellis') {
      // Lines flushed by a log stream being torn down arrive after close: the files are final by then.
      if (!this.closed) this.files[stream].write(`${line}\n`);
      this.tailLines.push(entry);
      if (this.tailLines.length > TAIL_LINES) this.tailLines.shift();
    }
    this.backlog.push(entry);
    if (this.backlog.length > BACKLOG_LINES) this.backlog.splice(0, this.backlog.length - BACKLOG_LINES);
    for (const follower of this.followers) follower(entry);
  }

  /** The lines so far, then every new one until the returned function is called. */
  follow(listener: (line: LogLine) => void): { backlog: LogLine[]; stop: () => void } {
    this.followers.add(listener);
    return { backlog: [...this.backlog], stop: () => this.followers.delete(listener) };
  }

  /** The last lines of output, for a failed run's tag. */
  tail(count = TAIL_LINES): string {
    return this.tailLines.slice(-count).map((l) => l.line).join('\n');
  }

  /** Flushes both files to disk; later calls wait for the same. */
  close(): Promise<void> {
    this.closed ??= Promise.all(Object.values(this.files).map((f) => new Promise<void>((resolve) => f.end(resolve)))).then(() => {});
    return this.closed;
  }
}
