/** Configuration from the same environment variables as the SDK. */
import { type AvailsyncClient, createAvailsyncClient, VERSION as SDK_VERSION } from '@availsync/node';

export const CLI_VERSION = '0.1.0';

export const DEFAULT_API_URL = 'http://127.0.0.1:8787';

/** Exit codes of the wrapper itself (a wrapped command's own code is passed through unchanged). */
export const EXIT = {
  /** The API refused (auth, validation, plan limit, an unknown id). */
  api: 1,
  /** Bad arguments or missing configuration. */
  usage: 2,
  /** `availsync check`: the resource is held by another run. */
  busy: 3,
  /** The server could not be reached (EX_UNAVAILABLE), with --on-unavailable fail. */
  unavailable: 69,
  /** The command could not be started (as a shell answers for a missing command). */
  notFound: 127,
} as const;

export class ConfigError extends Error {}

export interface CliConfig {
  apiKey: string;
  agentId: string | undefined;
  apiUrl: string;
}

export function loadConfig(env: NodeJS.ProcessEnv): CliConfig {
  const apiKey = env.AVAILSYNC_API_KEY?.trim();
  if (!apiKey) {
    throw new ConfigError(
      'AVAILSYNC_API_KEY is not set. Set it to the agent API key shown when the agent was created (avs_live_...), ' +
        'and AVAILSYNC_AGENT_ID to its id; AVAILSYNC_API_URL defaults to ' +
        DEFAULT_API_URL +
        '.',
    );
  }
  const apiUrl = env.AVAILSYNC_API_URL?.trim() || DEFAULT_API_URL;
  try {
    new URL(apiUrl);
  } catch {
    throw new ConfigError(`AVAILSYNC_API_URL is not a URL: ${apiUrl}`);
  }
  return { apiKey, agentId: env.AVAILSYNC_AGENT_ID?.trim() || undefined, apiUrl };
}

export function clientFor(config: CliConfig, overrides: { maxRetries?: number; timeoutMs?: number } = {}): AvailsyncClient {
  return createAvailsyncClient({
    ...overrides,
    apiKey: config.apiKey,
    agentId: config.agentId,
    baseUrl: config.apiUrl,
    userAgent: `availsync-cli/${CLI_VERSION} availsync-node/${SDK_VERSION} node/${process.version}`,
  });
}
