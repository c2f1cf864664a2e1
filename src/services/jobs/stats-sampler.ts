import type Docker from 'dockerode';
import { streamStats } from '../../engines/docker/containers';
import type { Metric } from '../../core/entities';

export const SYSTEM_METRICS = { cpu: 'system/cpu_percent', memory: 'system/memory_mb' } as const;

/**
 * Logs the container's stats as `system/` metrics (step = sample number), at most one sample per
 * `intervalMs`: the engine streams a reading a second, so intervals below a second get every reading.
 * Docker's stats carry no GPU figures; GPU utilisation needs NVIDIA's tools on the engine's host and is
 * not sampled here.
 */
export class StatsSampler {
  private readonly abort = new AbortController();
  private seenFirst = false;
  private lastLogged = 0;
  private step = 0;

  constructor(
    private readonly container: Docker.Container,
    private readonly intervalMs: number,
    private readonly record: (metrics: Metric[]) => void,
  ) {}

  start(): void {
    streamStats(
      this.container,
      (sample) => {
        const timestamp = Date.now();
        // The first reading has no previous CPU counters: its CPU % is meaningless.
        if (!this.seenFirst) {
          this.seenFirst = true;
          return;
        }
        if (timestamp - this.lastLogged < this.intervalMs) return;
        this.lastLogged = timestamp;
        this.record([
          { key: SYSTEM_METRICS.cpu, value: round(sample.cpuPercent), timestamp, step: this.step },
          { key: SYSTEM_METRICS.memory, value: round(sample.memoryBytes / 1024 ** 2), timestamp, step: this.step },
        ]);
        this.step++;
      },
      this.abort.signal,
    ).catch(() => {
      // The container stopped or went away: the job's own exit handling takes it from here.
    });
  }

  stop(): void {
    this.abort.abort();
  }
}

const round = (v: number): number => Math.round(v * 100) / 100;
