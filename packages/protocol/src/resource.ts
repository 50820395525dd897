/**
 * Resources are `type:key` strings. Work claims accept `repo` (key `owner/name`) and `project`
 * (letters, digits and `._-/`, 1–200 chars). Holds accept any lowercase type.
 */
export const WORK_RESOURCE_TYPES = ['repo', 'project'] as const;
export type WorkResourceType = (typeof WORK_RESOURCE_TYPES)[number];

export interface ResourceRef {
  resource_type: string;
  resource_key: string;
}

const REPO_KEY = /^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/;
const PROJECT_KEY = /^[A-Za-z0-9._/-]{1,200}$/;
const HOLD_TYPE = /^[a-z][a-z0-9_-]{0,39}$/;
const HOLD_KEY = /^[^\s\u0000-\u001f]{1,200}$/;

export type ResourceParse = { ok: true; value: ResourceRef } | { ok: false; message: string };

/** Validate a work resource (`repo` or `project`). */
export function validateWorkResource(type: string, key: string): ResourceParse {
  if (type === 'repo') {
    if (!REPO_KEY.test(key) || key.split('/').some((part) => part === '.' || part === '..')) {
      return { ok: false, message: 'repo resources look like repo:owner/name' };
    }
    return { ok: true, value: { resource_type: type, resource_key: key } };
  }
  if (type === 'project') {
    if (!PROJECT_KEY.test(key) || key.split('/').some((part) => part === '..')) {
      return {
        ok: false,
        message: 'project keys are 1-200 letters, digits and . _ - / (no .. segment)',
      };
    }
    return { ok: true, value: { resource_type: type, resource_key: key } };
  }
  return {
    ok: false,
    message: `unknown resource type "${type}": work claims accept repo:owner/name or project:key`,
  };
}

/** Validate a hold resource: any lowercase type. */
export function validateHoldResource(type: string, key: string): ResourceParse {
  if (type === 'repo' || type === 'project') return validateWorkResource(type, key);
  if (!HOLD_TYPE.test(type)) {
    return { ok: false, message: 'resource types are lowercase letters, digits, _ and -' };
  }
  if (!HOLD_KEY.test(key)) return { ok: false, message: 'resource keys are 1-200 visible characters' };
  return { ok: true, value: { resource_type: type, resource_key: key } };
}

/** Split `type:key` at the first colon. */
export function splitResource(resource: string): { type: string; key: string } | null {
  const at = resource.indexOf(':');
  if (at <= 0 || at === resource.length - 1) return null;
  return { type: resource.slice(0, at), key: resource.slice(at + 1) };
}

export function parseWorkResource(resource: string): ResourceParse {
  const parts = splitResource(resource);
  if (!parts) return { ok: false, message: 'resources are written type:key, e.g. repo:owner/name' };
  return validateWorkResource(parts.type, parts.key);
}

export function parseHoldResource(resource: string): ResourceParse {
  const parts = splitResource(resource);
  if (!parts) return { ok: false, message: 'resources are written type:key, e.g. release:prod' };
  return validateHoldResource(parts.type, parts.key);
}

export function formatResource(ref: ResourceRef): string {
  return `${ref.resource_type}:${ref.resource_key}`;
}
