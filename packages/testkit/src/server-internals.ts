/**
 * The server internals a suite outside the server needs and @availsync/server's public index does not
 * export. They are reached here, in one place, so a move inside the server changes this file and no suite.
 */
export { planCommand } from '../../server/src/operator.js';
