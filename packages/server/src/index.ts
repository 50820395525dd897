export { type Clock, ManualClock, systemClock } from './clock.js';
export { type Config, loadConfig } from './config.js';
export { createLogger, type Logger, silentLogger } from './logger.js';
export { type Availsync, createAvailsync, listen, openStore } from './server.js';
export { createPostgresStore, createSqliteStore, type Store } from './storage/store.js';
