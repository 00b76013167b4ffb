import type { Scenario } from '../context.js';
export const mqttScenario: Scenario = { name: 'mqttScenario', title: 'todo', default: false, run: async () => { throw new Error('todo'); } };
