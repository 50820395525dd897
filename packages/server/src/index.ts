export { ManualClock, systemClock, type Clock } from './clock.js';
export { loadConfig, type Config } from './config.js';
export { createLogger, silentLogger, type Logger } from './logger.js';
export { createAvailsync, listen, openStore, type Availsync } from './server.js';
export { createPostgresStore, createSqliteStore, type Store } from './storage/store.js';
