import { join } from 'node:path';
import { checkpoint, openDatabase, type Db } from './db';
import { ChangeFeed } from './events';
import { ExperimentStore } from './experiments';
import { RunStore } from './runs';
import { Registry } from './registry';
import { ArtifactStore } from './artifacts';

/** Everything the platform keeps under its data directory (`.trellis/` by default). */
export interface Store {
  readonly dataDir: string;
  readonly db: Db;
  readonly changes: ChangeFeed;
  readonly experiments: ExperimentStore;
  readonly runs: RunStore;
  readonly registry: Registry;
  readonly artifacts: ArtifactStore;
  /** Checkpoints the WAL into the main file and closes the database. */
  close(): void;
}

export const databasePath = (dataDir: string): string => join(dataDir, 'trellis.db');

export function openStore(dataDir: string): Store {
  const db = openDatabase(databasePath(dataDir));
  const changes = new ChangeFeed();
  const experiments = new ExperimentStore(db, changes);
  return {
    dataDir,
    db,
    changes,
    experiments,
    runs: new RunStore(db, experiments, changes),
    registry: new Registry(db, changes),
    artifacts: new ArtifactStore(join(dataDir, 'artifacts')),
    close() {
      checkpoint(db);
      db.close();
    },
  };
}
