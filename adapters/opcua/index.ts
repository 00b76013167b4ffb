/**
 * OPC UA adapter module: registered by one line in adapters/registry.ts.
 */
import type { AdapterModule } from '../types.js';
import { OpcuaAdapter } from './adapter.js';
import { opcuaDeviceSchema, type OpcuaDevice } from './schema.js';

const opcua: AdapterModule<OpcuaDevice> = {
  protocol: 'opcua',
  deviceSchema: opcuaDeviceSchema,
  create: (device, ctx) => new OpcuaAdapter(device, ctx),
  warnings(device, path) {
    const out: string[] = [];
    const c = device.connection;
    if (c.securityMode === 'None' && c.auth.type !== 'anonymous') {
      out.push(`${path}.connection.securityMode: None sends the session unencrypted; with ${c.auth.type} auth prefer SignAndEncrypt`);
    }
    if (c.trustUnknownServers && c.securityMode !== 'None') {
      out.push(`${path}.connection.trustUnknownServers: true trusts any server certificate on first use; run \`fgw pki trust\` and set it false in production`);
    }
    device.tags.forEach((t, i) => {
      if (t.mode === 'poll' && (t.deadband || t.samplingInterval !== undefined)) {
        out.push(`${path}.tags[${i}]: deadband and samplingInterval apply to subscribed tags only; "${t.name}" is polled`);
      }
    });
    return out;
  },
};

export default opcua;
export { OpcuaAdapter } from './adapter.js';
export { opcuaDeviceSchema, type OpcuaDevice, type OpcuaTag } from './schema.js';
