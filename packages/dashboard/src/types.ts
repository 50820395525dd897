/** The API's response shapes, as the protocol package infers them (types only: nothing of zod is bundled). */
export type {
  Activity,
  Agent,
  AuditEvent,
  BillingStatusResponse,
  Claim,
  Hold,
  Pagination,
  ProtectedResource,
  Rules,
  SetupTestResponse,
  TestConnectionResponse,
  ValueHealthResponse,
} from '@availsync/protocol';

export interface SessionView {
  user: { id: string; email: string; created_at: string };
  workspace: { id: string; name: string; plan: 'free' | 'team' | 'unlimited'; created_at: string };
  csrf_token: string;
}

export interface Page<T> {
  data: T[];
  pagination: { limit: number; offset: number; total: number; has_more: boolean };
}
