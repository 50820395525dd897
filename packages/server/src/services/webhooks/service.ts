/**
 * Webhook endpoints: create (the `whsec_` secret is in that answer only), list, change,
 * delete, the delivery log, and "send test". The role each needs is in http/roles.ts (admin); an agent
 * key is refused by the routes' auth mode. Every change is audited in its own transaction.
 */
import { randomBytes } from 'node:crypto';
import { WEBHOOK_TEST_EVENT, type Webhook, type WebhookDelivery } from '@availsync/protocol';
import { iso, isoOrNull } from '../../clock.js';
import { errors } from '../../errors.js';
import { newId } from '../../ids.js';
import { loadSecretsKey, SecretBox, secretsKeyMissing } from '../../security/secret-box.js';
import { latestSeq, sequenceEvents } from '../../storage/queries/events.js';
import { type DeliveryRow, insertDelivery, listDeliveries, type WebhookRow } from '../../storage/queries/webhooks.js';
import type { Tx } from '../../storage/store.js';
import { writeAudit } from '../audit-write.js';
import type { Principal, ServiceDeps } from '../context.js';
import { checkTarget, TargetRefused } from './address-guard.js';
import { attempt } from './deliver.js';
import { deliveryBody } from './format.js';

type UserPrincipal = Principal & { kind: 'user' };

export interface WebhookInput {
  url: string;
  events: string[];
  description?: string | undefined;
  format?: 'json' | 'slack' | undefined;
}
export interface WebhookPatch {
  url?: string | undefined;
  events?: string[] | undefined;
  description?: string | null | undefined;
  format?: 'json' | 'slack' | undefined;
  enabled?: boolean | undefined;
}

export function toWebhook(r: WebhookRow): Webhook {
  return {
    id: r.id,
    org_id: r.org_id,
    url: r.url,
    description: r.description,
    events: JSON.parse(r.events) as string[],
    format: r.format === 'slack' ? 'slack' : 'json',
    enabled: r.enabled === 1,
    disabled_reason: r.disabled_reason,
    failing_since: isoOrNull(r.failing_since === null ? null : Number(r.failing_since)),
    created_at: iso(Number(r.created_at)),
    updated_at: iso(Number(r.updated_at)),
  };
}

export function toDelivery(r: DeliveryRow): WebhookDelivery {
  return {
    id: r.id,
    webhook_id: r.webhook_id,
    event_id: r.event_seq === null ? null : Number(r.event_seq),
    event_type: r.event_type,
    attempt: r.attempt,
    status: r.status,
    ok: r.ok === 1,
    error: r.error,
    duration_ms: r.duration_ms,
    created_at: iso(Number(r.created_at)),
  };
}

/** `["*"]` alone, or distinct event types (the schema already refused unknown ones). */
function normaliseEvents(events: string[]): string[] {
  if (events.includes('*')) {
    if (events.length > 1) throw errors.invalid('"*" means every event: send it alone', { field: 'events' });
    return ['*'];
  }
  return [...new Set(events)];
}

/** The key that seals secrets, loaded on first use (service and worker share it). */
export class WebhookSecrets {
  #box: SecretBox | undefined;
  #tried = false;
  constructor(private readonly deps: ServiceDeps) {}
  box(): SecretBox {
    if (!this.#tried) {
      this.#tried = true;
      const key = loadSecretsKey(this.deps.config.secretsKey, this.deps.store.dataDir);
      if (key) this.#box = new SecretBox(key);
    }
    if (!this.#box) throw secretsKeyMissing();
    return this.#box;
  }
}

export class WebhookService {
  /** Told whenever an endpoint is created or re-enabled, so the worker looks again at once. */
  onChange: () => void = () => {};

  constructor(
    private readonly deps: ServiceDeps,
    readonly secrets: WebhookSecrets,
  ) {}

  private get allowPrivate(): boolean {
    return this.deps.config.webhookAllowPrivate === true;
  }

  private async checkUrl(url: string): Promise<void> {
    try {
      await checkTarget(url, this.allowPrivate);
    } catch (err) {
      if (err instanceof TargetRefused) throw errors.invalid(err.message, { field: 'url', reason: err.reason });
      throw err;
    }
  }

  private async row(ex: Tx | ServiceDeps['store']['db'], orgId: string, id: string): Promise<WebhookRow> {
    const row = await ex.selectFrom('webhooks').selectAll().where('org_id', '=', orgId).where('id', '=', id).executeTakeFirst();
    if (!row) throw errors.notFound('Webhook');
    return row;
  }

  async list(p: UserPrincipal, q: { limit: number; offset: number }) {
    const db = this.deps.store.db;
    const [rows, count] = await Promise.all([
      db
        .selectFrom('webhooks')
        .selectAll()
        .where('org_id', '=', p.org.id)
        .orderBy('created_at')
        .orderBy('id')
        .limit(q.limit)
        .offset(q.offset)
        .execute(),
      db
        .selectFrom('webhooks')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('org_id', '=', p.org.id)
        .executeTakeFirstOrThrow(),
    ]);
    const total = Number(count.n);
    return { data: rows.map(toWebhook), pagination: { limit: q.limit, offset: q.offset, total, has_more: q.offset + rows.length < total } };
  }

  async create(p: UserPrincipal, input: WebhookInput): Promise<{ webhook: Webhook; secret: string }> {
    const events = normaliseEvents(input.events);
    const box = this.secrets.box();
    await this.checkUrl(input.url);
    const { store } = this.deps;
    const id = newId('webhook');
    const secret = `whsec_${randomBytes(24).toString('base64url')}`;
    // Number what has committed first (PostgreSQL), so the cursor starts after every event already in the log.
    if (store.sequencesEvents) await sequenceEvents(store);
    const row = await store.transaction(async (trx) => {
      const now = this.deps.clock.now();
      const r: WebhookRow = {
        id,
        org_id: p.org.id,
        url: input.url,
        description: input.description ?? null,
        events: JSON.stringify(events),
        format: input.format ?? 'json',
        secret: box.seal(secret, id),
        enabled: 1,
        disabled_reason: null,
        cursor: await latestSeq(trx),
        attempts: 0,
        failing_since: null,
        next_attempt_at: 0,
        lease_owner: null,
        lease_until: 0,
        created_at: now,
        updated_at: now,
      };
      await trx.insertInto('webhooks').values(r).execute();
      await writeAudit(trx, now, {
        org_id: p.org.id,
        actor: { type: 'user', id: p.userId },
        event: 'webhook.created',
        details: { webhook_id: id, url: r.url, events, format: r.format },
      });
      return r;
    });
    this.onChange();
    return { webhook: toWebhook(row), secret };
  }

  async update(p: UserPrincipal, id: string, patch: WebhookPatch): Promise<{ webhook: Webhook }> {
    const events = patch.events === undefined ? undefined : normaliseEvents(patch.events);
    if (patch.url !== undefined) await this.checkUrl(patch.url);
    const { store } = this.deps;
    const row = await store.transaction(async (trx) => {
      const before = await this.row(trx, p.org.id, id);
      const now = this.deps.clock.now();
      const set: Partial<WebhookRow> = { updated_at: now };
      if (patch.url !== undefined) set.url = patch.url;
      if (events !== undefined) set.events = JSON.stringify(events);
      if (patch.description !== undefined) set.description = patch.description;
      if (patch.format !== undefined) set.format = patch.format;
      if (patch.enabled !== undefined && (patch.enabled ? 1 : 0) !== before.enabled) {
        set.enabled = patch.enabled ? 1 : 0;
        set.disabled_reason = patch.enabled ? null : 'manual';
        // Enabled again: retry at once, and three days of failure count from now.
        if (patch.enabled) Object.assign(set, { attempts: 0, failing_since: null, next_attempt_at: 0 });
      }
      await trx.updateTable('webhooks').set(set).where('id', '=', id).execute();
      const changed = Object.keys(set).filter((k) => k !== 'updated_at');
      await writeAudit(trx, now, {
        org_id: p.org.id,
        actor: { type: 'user', id: p.userId },
        event: set.enabled === 0 ? 'webhook.disabled' : 'webhook.updated',
        details: { webhook_id: id, changed, ...(set.enabled === 0 ? { reason: 'manual' } : {}) },
      });
      return { ...before, ...set };
    });
    this.onChange();
    return { webhook: toWebhook(row) };
  }

  async remove(p: UserPrincipal, id: string): Promise<{ deleted: true; webhook: Webhook }> {
    const { store } = this.deps;
    const row = await store.transaction(async (trx) => {
      const r = await this.row(trx, p.org.id, id);
      await trx.deleteFrom('webhook_deliveries').where('webhook_id', '=', id).execute();
      await trx.deleteFrom('webhooks').where('id', '=', id).execute();
      await writeAudit(trx, this.deps.clock.now(), {
        org_id: p.org.id,
        actor: { type: 'user', id: p.userId },
        event: 'webhook.deleted',
        details: { webhook_id: id, url: r.url },
      });
      return r;
    });
    return { deleted: true as const, webhook: toWebhook(row) };
  }

  async deliveries(p: UserPrincipal, id: string, q: { limit: number; offset: number }) {
    await this.row(this.deps.store.db, p.org.id, id);
    const { rows, total } = await listDeliveries(this.deps.store.db, id, q);
    return {
      data: rows.map(toDelivery),
      pagination: { limit: q.limit, offset: q.offset, total, has_more: q.offset + rows.length < total },
    };
  }

  /** "Send test": a synthetic event to the endpoint now (outside the outbox and its order), logged. */
  async test(p: UserPrincipal, id: string): Promise<{ delivery: WebhookDelivery }> {
    const row = await this.row(this.deps.store.db, p.org.id, id);
    const secret = this.secrets.box().open(row.secret, row.id);
    const now = this.deps.clock.now();
    const eventId = `test_${randomBytes(8).toString('hex')}`;
    const event = {
      id: 0,
      type: WEBHOOK_TEST_EVENT,
      created_at: iso(now),
      workspace_id: p.org.id,
      data: { webhook_id: id, message: 'A test delivery from Availsync' },
    };
    const res = await attempt({
      url: row.url,
      secret,
      eventId,
      body: deliveryBody(row.format, event),
      now,
      allowPrivate: this.allowPrivate,
    });
    const delivery: DeliveryRow = {
      id: newId('delivery'),
      webhook_id: id,
      org_id: p.org.id,
      event_seq: null,
      event_type: WEBHOOK_TEST_EVENT,
      attempt: 1,
      status: res.status,
      ok: res.ok ? 1 : 0,
      error: res.error,
      duration_ms: res.durationMs,
      created_at: this.deps.clock.now(),
    };
    await insertDelivery(this.deps.store.db, delivery);
    return { delivery: toDelivery(delivery) };
  }
}
