/** The API's response shapes, as the protocol package infers them (types only: nothing of zod is bundled). */
export type {
  AccountSession,
  Activity,
  Agent,
  AuditEvent,
  BillingStatusResponse,
  Claim,
  Hold,
  Invite,
  InviteCreatedResponse,
  Member,
  Pagination,
  ProtectedResource,
  Rules,
  SetupTestResponse,
  TestConnectionResponse,
  ValueHealthResponse,
  Webhook,
  WebhookCreatedResponse,
  WebhookDelivery,
} from '@availsync/protocol';

export type Role = 'owner' | 'admin' | 'member' | 'viewer';

export interface WorkspaceView {
  id: string;
  name: string;
  plan: 'free' | 'team' | 'unlimited';
  created_at: string;
  role: Role;
}

export interface SessionView {
  user: { id: string; email: string; created_at: string };
  /** The workspace this view is of, with the user's role there. */
  workspace: WorkspaceView;
  workspaces: WorkspaceView[];
  csrf_token: string;
}

export interface Page<T> {
  data: T[];
  pagination: { limit: number; offset: number; total: number; has_more: boolean };
}
