import type { ServiceDeps } from '../context.js';
import type { WorkService } from '../work/index.js';
import { HookClients } from './clients.js';
import { HookService } from './service.js';

export { HookClients } from './clients.js';
export { HookService } from './service.js';

/** The hook decision (service) and its per-client forms (clients). */
export function createHookServices(deps: ServiceDeps, work: WorkService) {
  const service = new HookService(deps, work);
  return { service, clients: new HookClients(service) };
}

export type HookServices = ReturnType<typeof createHookServices>;
