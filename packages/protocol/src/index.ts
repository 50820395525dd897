export * from './errors.js';
export * from './resource.js';
export * from './schemas.js';
