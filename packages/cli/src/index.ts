export { buildProgram, main, parseTime, waitDuration } from './cli.js';
export { CLI_VERSION, EXIT, loadConfig } from './config.js';
export { type RunOptions, runCommand } from './run.js';
export { colourEnabled, createUi, type Io, type Stream } from './ui.js';
