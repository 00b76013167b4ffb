/**
 * OPC UA adapter module: registered by one line in adapters/registry.ts.
 */
import type { Adapter, AdapterContext, AdapterModule, DeviceStatus, Value } from '../types.js';
import type { OpcuaAdapter } from './adapter.js';
import { opcuaDeviceSchema, type OpcuaDevice } from './schema.js';

/**
 * node-opcua takes about a second and tens of MB to load: the adapter is loaded on the first
 * start, so `fgw check`, `fgw query` and gateways without OPC UA devices never pay for it.
 */
class LazyOpcuaAdapter implements Adapter {
  private inner?: OpcuaAdapter;
  private stopped = false;
  constructor(
    private readonly device: OpcuaDevice,
    private readonly ctx: AdapterContext,
  ) {}
  get deviceId(): string {
    return this.device.id;
  }
  async start(): Promise<void> {
    const { OpcuaAdapter } = await import('./adapter.js');
    if (this.stopped) return;
    this.inner = new OpcuaAdapter(this.device, this.ctx);
    await this.inner.start();
  }
  async stop(): Promise<void> {
    this.stopped = true;
    await this.inner?.stop();
  }
  status(): DeviceStatus {
    return this.inner?.status() ?? { connected: false, good: 0, bad: 0 };
  }
  async write(tag: string, value: Value): Promise<void> {
    const { ErrorCodes, GatewayError } = await import('../../config/errors.js');
    if (!this.inner) throw new GatewayError(ErrorCodes.NOT_CONNECTED, `device "${this.device.id}" is not started`);
    return this.inner.write(tag, value);
  }
}

const opcua: AdapterModule<OpcuaDevice> = {
  protocol: 'opcua',
  deviceSchema: opcuaDeviceSchema,
  create: (device, ctx) => new LazyOpcuaAdapter(device, ctx),
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
export { opcuaDeviceSchema, type OpcuaDevice, type OpcuaTag } from './schema.js';
