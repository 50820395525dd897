/** What the work use cases share: built once by WorkService (index.ts) and handed to each. */
import type { Store } from '../../storage/store.js';
import type { ServiceDeps } from '../context.js';
import type { PrincipalService } from '../principals.js';
import type { QueueWaker } from './queue.js';

export interface WorkContext {
  readonly deps: ServiceDeps;
  readonly store: Store;
  /** Confirms a cached agent key inside the use case's own transaction (services/principals.ts). */
  readonly keys: PrincipalService;
  /** This process's waiting starts and what wakes them (queue.ts). */
  readonly queue: QueueWaker;
}
