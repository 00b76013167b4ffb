import type { Scenario } from '../context.js';
export const opcua: Scenario = { name: 'opcua', title: 'todo', default: false, run: async () => { throw new Error('todo'); } };
