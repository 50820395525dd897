export * from './errors.js';
export * from './governance.js';
export * from './holds.js';
export * from './hooks.js';
export * from './mcp.js';
export * from './resource.js';
export * from './schemas.js';
export * from './teams.js';
