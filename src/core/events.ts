import { EventEmitter } from 'node:events';

/** What changed in the store; the server streams these to the extension so views refresh without polling. */
export type ChangeEvent =
  | { type: 'experiment.created' | 'experiment.updated'; experiment_id: string }
  | { type: 'run.created' | 'run.updated'; run_id: string; experiment_id: string }
  | { type: 'metrics.logged'; run_id: string; keys: string[] }
  | { type: 'model.updated'; name: string }
  | { type: 'model_version.created' | 'model_version.updated'; name: string; version: string }
  | { type: 'alias.moved'; name: string; alias: string; version: string | null }
  /** Another process (the CLI, a model server, a deploy) wrote to the store: what it changed is unknown, views re-read. */
  | { type: 'store.changed' }
  /** The platform's model host loaded, moved or stopped a version. */
  | { type: 'serving.changed' }
  /** A served version's live inputs drifted from its reference on one feature (PSI at or over the threshold, or KS). */
  | { type: 'drift.alert'; model: string; version: string; input: string; feature: string; psi: number; ks?: number; p_value?: number };

export class ChangeFeed {
  private readonly emitter = new EventEmitter().setMaxListeners(0);

  emit(event: ChangeEvent): void {
    this.emitter.emit('change', event);
  }

  /** Returns the unsubscribe function. */
  subscribe(listener: (event: ChangeEvent) => void): () => void {
    this.emitter.on('change', listener);
    return () => this.emitter.off('change', listener);
  }
}
