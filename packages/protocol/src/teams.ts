/**
 * Teams: members and roles, invites, and account security (password change and reset, the
 * sessions list). Shapes only: the server decides what depends on stored state (the last owner, who may
 * grant which role, an invite's status) and answers 4xx with `details` where a field is at fault.
 */
import { z } from 'zod';
import { ListQuery, Pagination, Role, Timestamp } from './schemas.js';

const Email = z.email().max(254);
const NewPassword = z.string().min(10).max(256);
/** Invite and reset tokens: `avs_inv_` / `avs_rst_` + base62. Bounded so a huge body costs nothing. */
const TokenField = z.string().min(1).max(200);

export const Member = z.object({
  user_id: z.string(),
  email: z.string(),
  role: Role,
  joined_at: Timestamp,
  last_login_at: Timestamp.nullable(),
});
export const MemberList = z.object({ data: z.array(Member), pagination: Pagination });
export const MemberResponse = z.object({ member: Member });
export const MemberPatchRequest = z.object({ role: Role }).strict();
export const MemberRemovedResponse = z.object({
  removed: z.literal(true),
  member: Member,
  sessions_ended: z.number().int().describe("The removed user's sessions in this workspace that were ended"),
});
export const MemberListQuery = z.object({ ...ListQuery });

export const InviteStatus = z.enum(['pending', 'accepted', 'revoked', 'expired']);
export const Invite = z.object({
  id: z.string(),
  org_id: z.string(),
  email: z.string(),
  role: Role,
  status: InviteStatus,
  invited_by: z.string().nullable().describe('The user who sent it'),
  created_at: Timestamp,
  expires_at: Timestamp,
  accepted_at: Timestamp.nullable(),
  revoked_at: Timestamp.nullable(),
});
export const InviteCreateRequest = z.object({ email: Email, role: Role }).strict();
export const InviteCreatedResponse = z.object({
  invite: Invite,
  invite_url: z.string().describe('The link to accept it, with its one-time token: shown in this answer only, never again'),
  emailed: z.boolean().describe('True when an email with the link was queued (AVAILSYNC_SMTP_URL is set)'),
});
export const InviteResponse = z.object({ invite: Invite });
export const InviteList = z.object({ data: z.array(Invite), pagination: Pagination });
export const InviteListQuery = z.object({ status: InviteStatus.optional(), ...ListQuery });
export const InviteAcceptRequest = z
  .object({
    token: TokenField,
    password: z
      .string()
      .min(1)
      .max(256)
      .optional()
      .describe(
        "Not signed in: the password to set (a new user, at least 10 characters) or the existing account's password. Signed in: omit it.",
      ),
  })
  .strict();

export const PasswordChangeRequest = z.object({ current_password: z.string().min(1).max(256), new_password: NewPassword }).strict();
export const PasswordChangedResponse = z.object({
  ok: z.literal(true),
  sessions_ended: z.number().int().describe("The user's other sessions, ended by the change"),
});
export const PasswordResetRequest = z.object({ email: Email }).strict();
export const PasswordResetConfirmRequest = z.object({ token: TokenField, new_password: NewPassword }).strict();
export const OkResponse = z.object({ ok: z.literal(true) });

export const AccountSession = z.object({
  id: z.string(),
  current: z.boolean().describe('The session this request was made with'),
  workspace_id: z.string().describe('The workspace it signed in to'),
  created_at: Timestamp,
  expires_at: Timestamp,
  user_agent: z.string().nullable(),
  address: z.string().nullable(),
});
export const AccountSessionList = z.object({ data: z.array(AccountSession), pagination: Pagination });
export const AccountSessionListQuery = z.object({ ...ListQuery });
export const SessionRevokedResponse = z.object({ revoked: z.literal(true), current: z.boolean() });

export type Member = z.infer<typeof Member>;
export type Invite = z.infer<typeof Invite>;
export type InviteStatusValue = z.infer<typeof InviteStatus>;
export type InviteCreatedResponse = z.infer<typeof InviteCreatedResponse>;
export type AccountSession = z.infer<typeof AccountSession>;
