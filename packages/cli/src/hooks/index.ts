export { type AgentHookOptions, agentHook, CLIENT_FORMS, type OnUnavailable } from './agent.js';
export { git, gitStatus, pushedPaths, type RepoInfo, repoFromCommonDir, repoFromRemote, repoInfo, stagedPaths } from './git.js';
export { GUARD_FAIL, guard, HOOK_MARK, installGuard } from './guard.js';
