import type { Scenario } from '../context.js';
export const modbus: Scenario = { name: 'modbus', title: 'todo', default: false, run: async () => { throw new Error('todo'); } };
export const latency: Scenario = { name: 'latency', title: 'todo', default: false, run: async () => { throw new Error('todo'); } };
