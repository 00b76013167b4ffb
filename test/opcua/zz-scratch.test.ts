import { it } from 'vitest';
import { pino } from 'pino';
import opcua from '../../adapters/opcua/index.js';
import { OpcuaSimulator } from '../../adapters/opcua/simulator.js';
import { tempDir } from '../helpers/tmp.js';
import { MemorySink, makeCtx } from './helpers.js';
it('scratch', async () => {
  const dir = tempDir('fgw-x-');
  const sim = await OpcuaSimulator.start({ pkiDir: `${dir.path}/server`, variables: (['Boolean','Int16','Int64','UInt64','LocalizedText','ByteString','DateTime','Float'] as const).map((t) => ({ id: `Test.${t}`, dataType: t })) });
  const sink = new MemorySink();
  const log = pino({ level: 'debug' }).child({ device: 'x' });
  const device = opcua.deviceSchema.parse({ id: 'x', protocol: 'opcua', interval: '100ms', connection: { endpoint: sim.endpoint },
    tags: [...['Boolean','Int16','Int64','UInt64','LocalizedText','ByteString','DateTime','Float'].map((t) => ({ name: t, nodeId: `ns=1;s=Test.${t}` })), { name: 'folder', nodeId: 'ns=1;s=Lathe3' }, { name: 'ghost', nodeId: 'ns=1;s=Nope' }, { name: 'p', nodeId: 'ns=1;s=Lathe3.Program', mode: 'poll' }] });
  const a = opcua.create(device, makeCtx('x', dir.path, sink, log));
  await a.start();
  await new Promise((r) => setTimeout(r, 3000));
  console.log(JSON.stringify(a.status()), JSON.stringify(sink.readings.slice(0, 12)));
  await a.stop(); await sim.stop();
}, 30000);
