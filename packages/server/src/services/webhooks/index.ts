/** Webhooks: the endpoints' use cases and the delivery worker, sharing the secrets key. */
import type { ServiceDeps } from '../context.js';
import type { EventFeed } from '../events/feed.js';
import { WebhookSecrets, WebhookService } from './service.js';
import { WebhookWorker } from './worker.js';

export function createWebhooks(deps: ServiceDeps, feed: EventFeed): { webhooks: WebhookService; worker: WebhookWorker } {
  const secrets = new WebhookSecrets(deps);
  const webhooks = new WebhookService(deps, secrets);
  const worker = new WebhookWorker(deps, feed, secrets);
  webhooks.onChange = () => worker.wake();
  return { webhooks, worker };
}

export type { WebhookService } from './service.js';
export type { DeliveryOutcome, WebhookWorker } from './worker.js';
