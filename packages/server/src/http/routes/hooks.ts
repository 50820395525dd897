/**
 * Coding-agent hooks served by the server: the client's hook input JSON in, its hook output JSON
 * out, always 200 for a valid authenticated request (a refusal is a deny in the client's form). Headers:
 * X-Availsync-Resource, X-Availsync-Project-Dir, X-Availsync-Scope.
 */
import {
  HOOK_HEADERS,
  HOOK_WAIT_MAX_SECONDS,
  type HookClient,
  HookGuardRequest,
  HookGuardResponse,
  HookInput,
  HookOutput,
  HookScope,
} from '@availsync/protocol';
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AppEnv } from '../env.js';
import { errors } from '../errors.js';
import type { Router } from '../registry.js';

const json = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });
const ok = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { 'application/json': { schema } } });
const tags = ['Agent hooks'];

const Headers = z.object({
  [HOOK_HEADERS.resource]: z.string().max(260).optional().openapi({ description: 'The repository, e.g. repo:owner/name' }),
  [HOOK_HEADERS.projectDir]: z.string().max(4096).optional().openapi({ description: 'The project root, to make absolute paths relative' }),
  [HOOK_HEADERS.scope]: z.string().max(20).optional().openapi({ description: 'repo (default) or files' }),
  [HOOK_HEADERS.wait]: z
    .string()
    .max(4)
    .optional()
    .openapi({ description: `Seconds to wait in the queue before denying (0-${HOOK_WAIT_MAX_SECONDS}; Claude Code default 5, others 0)` }),
});

const CLIENTS: { client: HookClient; path: string; operationId: string; name: string }[] = [
  { client: 'claude-code', path: '/v1/hooks/claude-code', operationId: 'claudeCodeHook', name: 'Claude Code' },
  { client: 'codex', path: '/v1/hooks/codex', operationId: 'codexHook', name: 'Codex' },
  { client: 'cursor', path: '/v1/hooks/cursor', operationId: 'cursorHook', name: 'Cursor' },
];

function headerValue(c: Context<AppEnv>, name: string): string | null {
  const v = c.req.header(name)?.trim();
  return v ? v : null;
}

export function hookRoutes(r: Router) {
  const { hooks } = r.services;
  for (const { client, path, operationId, name } of CLIENTS) {
    r.add(
      'agent',
      createRoute({
        method: 'post',
        path,
        operationId,
        tags,
        summary: `${name} hook`,
        description: `${name}'s hook input JSON (any event); answers in ${name}'s hook output form. Edits of files another run holds are denied, naming the holder, the path and when to retry.`,
        request: { headers: Headers, body: json(HookInput) },
        responses: { 200: ok(HookOutput, `${name}'s hook output JSON ({} when there is nothing to say)`) },
      }),
      async (c) => {
        const principal = c.get('principal');
        if (principal.kind !== 'agent') throw errors.forbidden('Hooks are called with an agent API key');
        const scope = HookScope.safeParse(headerValue(c, HOOK_HEADERS.scope) ?? 'repo');
        if (!scope.success) throw errors.invalid('X-Availsync-Scope is repo or files', { [HOOK_HEADERS.scope]: 'repo or files' });
        const wait = headerValue(c, HOOK_HEADERS.wait);
        const waitSeconds = wait === null ? undefined : Number(wait);
        if (waitSeconds !== undefined && !(Number.isInteger(waitSeconds) && waitSeconds >= 0 && waitSeconds <= HOOK_WAIT_MAX_SECONDS)) {
          throw errors.invalid(`X-Availsync-Wait is a whole number of seconds from 0 to ${HOOK_WAIT_MAX_SECONDS}`, {
            [HOOK_HEADERS.wait]: `0-${HOOK_WAIT_MAX_SECONDS}`,
          });
        }
        const body = await hooks.clients.handle(principal, {
          client,
          input: c.req.valid('json'),
          resource: headerValue(c, HOOK_HEADERS.resource),
          projectDir: headerValue(c, HOOK_HEADERS.projectDir),
          scope: scope.data,
          ...(waitSeconds !== undefined ? { waitSeconds } : {}),
        });
        return c.json(body, 200);
      },
    );
  }

  r.add(
    'agent',
    createRoute({
      method: 'post',
      path: '/v1/hooks/guard',
      operationId: 'hookGuard',
      tags,
      summary: 'What the git guard checks before a commit or push',
      description:
        "This agent's open hook sessions on the repository (with their runs, so a lost lease shows), and which of the paths other runs hold.",
      request: { body: json(HookGuardRequest) },
      responses: { 200: ok(HookGuardResponse, 'sessions and blocking paths') },
    }),
    async (c) => c.json(await hooks.service.guard(c.get('principal'), c.req.valid('json')), 200),
  );
}
