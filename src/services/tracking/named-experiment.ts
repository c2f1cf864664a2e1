import { TrellisError } from '../../core/errors';
import type { Store } from '../../core/store';

/**
 * The id of the active experiment with this name, created on first use (safe against another writer
 * creating it at the same moment). A deleted one is not revived: `whatToDo` tells the user how to go on.
 */
export function experimentNamed(store: Store, name: string, whatToDo: string): string {
  const find = () => {
    try {
      return store.experiments.getByName(name);
    } catch (err) {
      if (err instanceof TrellisError && err.code === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw err;
    }
  };
  let exp = find();
  if (!exp) {
    try {
      return store.experiments.create(name);
    } catch (err) {
      // Another writer created it between the lookup and the insert.
      if (!(err instanceof TrellisError && err.code === 'RESOURCE_ALREADY_EXISTS')) throw err;
      exp = find();
    }
  }
  if (!exp || exp.lifecycle_stage !== 'active') {
    throw new TrellisError('RESOURCE_CONFLICT', `The experiment '${name}' is deleted: ${whatToDo}`);
  }
  return exp.experiment_id;
}
