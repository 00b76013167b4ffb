/**
 * config/redact.ts by hand-written cases: URLs to be logged, URLs inside error text, command lines,
 * and the pino redact option the gateway's and the hub's loggers share.
 */
import { describe, expect, it } from 'vitest';
import { CENSOR, INVALID_URL, REDACT, redactArgs, redactText, redactUrl } from '../../config/redact.js';
import { captureLog } from '../helpers/log.js';

describe('redactUrl: a URL to be logged, without its credentials', () => {
  it.each([
    ['http://gw:s3cret@10.0.0.5:8086', 'http://10.0.0.5:8086'],
    ['https://gw:s3cret@influx.example:8086/', 'https://influx.example:8086'],
    ['mqtt://gw:pw@127.0.0.1:1883', 'mqtt://127.0.0.1:1883'],
    ['mqtts://gw:pw@broker.example:8883', 'mqtts://broker.example:8883'],
    ['ws://gw:pw@broker.example:8080/mqtt', 'ws://broker.example:8080/mqtt'],
    // percent-encoded password, and an unencoded @ in it: the authority ends at the last @
    ['http://gw:p%40ss@h:8086', 'http://h:8086'],
    ['http://gw:p@ss@h:8086', 'http://h:8086'],
    // a user without a password (could be a token) is removed as well
    ['https://ghp_abc123@git.example/x', 'https://git.example/x'],
    // no credentials: the URL as it is, trailing slashes dropped
    ['http://127.0.0.1:8086', 'http://127.0.0.1:8086'],
    ['http://127.0.0.1:8086//', 'http://127.0.0.1:8086'],
    ['opc.tcp://127.0.0.1:4840', 'opc.tcp://127.0.0.1:4840'],
  ])('%s → %s', (url, want) => {
    expect(redactUrl(url)).toBe(want);
  });

  it.each([
    'not a url',
    '',
    'gw:s3cret@10.0.0.5:8086', // no scheme: parsed as scheme "gw", nothing to strip safely
    '10.0.0.5:8086',
    'mqtt://gw:s3cret@', // no host
    'http://gw:s3cret@h:99999', // port out of range
  ])('%j is not a URL with a host: INVALID_URL, never the input', (url) => {
    expect(redactUrl(url)).toBe(INVALID_URL);
  });
});

describe('redactText: the credentials of URLs inside free text', () => {
  it.each([
    ['connect ECONNREFUSED mqtt://gw:pw@127.0.0.1:1883', `connect ECONNREFUSED mqtt://gw:${CENSOR}@127.0.0.1:1883`],
    ['http://u:p%40ss@h:8086/write failed', 'http://u:***@h:8086/write failed'],
    ['https://u:pw@h:8086 refused', 'https://u:***@h:8086 refused'],
    ['getaddrinfo ENOTFOUND mqtts://gw:pw@broker (while connecting)', 'getaddrinfo ENOTFOUND mqtts://gw:***@broker (while connecting)'],
    ['InfluxDB query failed (http://gw:p@ss@h:8086, database db): 401', 'InfluxDB query failed (http://gw:***@h:8086, database db): 401'],
    ['two: mqtt://a:x@h1 and http://b:y@h2/p', 'two: mqtt://a:***@h1 and http://b:***@h2/p'],
    // a userinfo without a colon may be a token: censored whole
    ['clone https://ghp_abc123@git.example/x failed', 'clone https://***@git.example/x failed'],
    // no credentials; an @ after the authority or outside a URL is left alone
    ['opc.tcp://127.0.0.1:4840 refused', 'opc.tcp://127.0.0.1:4840 refused'],
    ['http://h/path?mail=a@b.example failed, ask ops@example.com', 'http://h/path?mail=a@b.example failed, ask ops@example.com'],
    ['TIMEOUT', 'TIMEOUT'],
    // already censored text stays as it is
    ['mqtt://gw:***@h and https://***@h', 'mqtt://gw:***@h and https://***@h'],
  ])('%j → %j', (text, want) => {
    expect(redactText(text)).toBe(want);
  });
});

describe('redactArgs: a command line as recorded', () => {
  it.each([
    [
      ['verify', '--config', 'a.yaml'],
      ['verify', '--config', 'a.yaml'],
    ],
    [['--influx-password=x'], ['--influx-password=***']],
    [
      ['--influx-password', 'hunter2', '--x'],
      ['--influx-password', '***', '--x'],
    ],
    [
      ['--token', 'x', 'next'],
      ['--token', '***', 'next'],
    ],
    [
      ['--token=abc', '--mes-token', 'zzz'],
      ['--token=***', '--mes-token', '***'],
    ],
    [['--client-secret=a=b'], ['--client-secret=***']],
    // a URL argument keeps its user, not its password, as in any other text
    [
      ['--influx-url', 'http://gw:s3cret@10.0.0.5:8086'],
      ['--influx-url', 'http://gw:***@10.0.0.5:8086'],
    ],
    [['--influx-url=https://gw:s3cret@10.0.0.5:8086/'], ['--influx-url=https://gw:***@10.0.0.5:8086/']],
    // a secret option last, without a value: nothing to hide
    [['--token'], ['--token']],
  ])('%j → %j', (args, want) => {
    expect(redactArgs(args)).toEqual(want);
  });
});

describe('REDACT: the loggers hide secret keys', () => {
  it('at the top level, one object down and in the influx config', () => {
    const { log, lines } = captureLog({ redact: REDACT });
    const target = { key: 'sec-5', tokens: ['sec-6'] };
    log.info({ password: 'sec-1', token: 'sec-2', authorization: 'Basic sec-3', headers: { authorization: 'Bearer sec-4' }, target }, 'one');
    log.info({ config: { influx: { url: 'http://h', password: 'sec-7' } }, auth: { password: 'sec-8' } }, 'two');
    expect(JSON.stringify(lines)).not.toMatch(/sec-/);
    expect(lines[0]).toMatchObject({ password: '[redacted]', authorization: '[redacted]', headers: { authorization: '[redacted]' } });
    expect(lines[1]).toMatchObject({ config: { influx: { url: 'http://h', password: '[redacted]' } } });
  });
});
