/**
 * One-time tokens sent to people: invite links (`avs_inv_`) and password resets (`avs_rst_`). 32 random
 * bytes each, shown once (in an answer or an email) and stored only as SHA-256, like session tokens.
 */
import { randomBytes } from 'node:crypto';
import { sha256 } from './keys.js';

export const INVITE_TOKEN_PREFIX = 'avs_inv_';
export const RESET_TOKEN_PREFIX = 'avs_rst_';

export function generateToken(prefix: string): { token: string; hash: string } {
  const token = `${prefix}${randomBytes(32).toString('base64url')}`;
  return { token, hash: sha256(token) };
}

/** The stored form of a token someone sent back. */
export function tokenHash(token: string): string {
  return sha256(token.trim());
}
