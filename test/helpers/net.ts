/** The tests' free loopback port: the one the demo uses (config/net.ts). */
export { freePort } from '../../config/net.js';
