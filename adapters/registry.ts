/**
 * The one place that lists the protocols (Telegraf `inputs.Add`): one line per adapter. Nothing
 * else in the gateway switches on a protocol name.
 */
import type { AdapterModule } from './types.js';
import modbus from './modbus/index.js';
import opcua from './opcua/index.js';
import mqtt from './mqtt/index.js';

export const adapterModules: readonly AdapterModule<any>[] = [modbus, opcua, mqtt];

export function adapterModule(protocol: string): AdapterModule<any> | undefined {
  return adapterModules.find((m) => m.protocol === protocol);
}
