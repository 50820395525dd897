import { AccountService } from './accounts.js';
import { AgentService } from './agents.js';
import type { ServiceDeps } from './context.js';
import { HoldService } from './holds.js';
import { WorkService } from './work.js';

export interface Services {
  deps: ServiceDeps;
  work: WorkService;
  accounts: AccountService;
  agents: AgentService;
  holds: HoldService;
}

export function createServices(deps: ServiceDeps): Services {
  const work = new WorkService(deps);
  return { deps, work, accounts: new AccountService(deps), agents: new AgentService(deps, work), holds: new HoldService(deps, work) };
}

export type { Principal, Reply, ServiceDeps } from './context.js';
