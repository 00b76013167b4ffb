/**
 * The API's pure cores as tables: liveness and the silence threshold, the networking series, the
 * auth decision, token matching, bearer parsing and audit result mapping (secret scrubbing: test/config/redact.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { auditResult, valueText } from '../../gateway/api/audit.js';
import { bearer, decide, isLoopbackIp, matchToken, type TokenConfig } from '../../gateway/api/auth.js';
import { liveness, networkingSeries, staleAfterMs } from '../../gateway/api/live.js';
import { stalePolicyFromPolicy } from '../../gateway/api/server.js';

const MIN = 60_000;
const POLICY = { intervalFactor: 5, minMs: 15 * MIN };

describe('silence threshold and liveness', () => {
  it('the shipped policy gives 5 intervals with a 15 min floor', () => {
    expect(stalePolicyFromPolicy()).toEqual(POLICY);
  });

  it.each([
    [1000, 15 * MIN],
    [180_000, 15 * MIN],
    [300_000, 25 * MIN],
    [3_600_000, 300 * MIN],
  ])('interval %i ms → stale after %i ms', (interval, expected) => {
    expect(staleAfterMs(interval, POLICY)).toBe(expected);
  });

  const now = 100 * MIN;
  const started = 0;
  it.each([
    [
      'connected, read a second ago',
      { enabled: true, interval: 1000 },
      { connected: true, lastReadingAt: now - 1000 },
      { live: true, silent: false, silentForMs: 1000 },
    ],
    [
      'connected, silent 16 min',
      { enabled: true, interval: 1000 },
      { connected: true, lastReadingAt: now - 16 * MIN },
      { live: false, silent: true, silentForMs: 16 * MIN },
    ],
    [
      'exactly at the threshold is not yet silent',
      { enabled: true, interval: 1000 },
      { connected: true, lastReadingAt: now - 15 * MIN },
      { live: true, silent: false, silentForMs: 15 * MIN },
    ],
    [
      'disconnected, recent reading',
      { enabled: true, interval: 1000 },
      { connected: false, lastReadingAt: now - 1000 },
      { live: false, silent: false, silentForMs: 1000 },
    ],
    ['never read, gateway up 100 min', { enabled: true, interval: 1000 }, { connected: true }, { live: false, silent: true, silentForMs: 100 * MIN }],
    ['disabled never alarms', { enabled: false, interval: 1000 }, { connected: false }, { live: false, silent: false, silentForMs: 100 * MIN }],
  ])('%s', (_what, d, status, expected) => {
    expect(liveness(d, status, now, started, POLICY)).toEqual({ ...expected, staleAfterMs: 15 * MIN });
  });
});

describe('networkingSeries', () => {
  it.each([
    [
      'no devices',
      new Map(),
      0,
      3,
      1,
      [
        { ts: 0, live: 0, total: 0, rate: null },
        { ts: 1, live: 0, total: 0, rate: null },
        { ts: 2, live: 0, total: 0, rate: null },
      ],
    ],
    [
      'two devices, bad-only slots do not count, a slot counts a device once',
      new Map([
        [
          'a',
          [
            { slot: 0, good: 2, bad: 0 },
            { slot: 1, good: 0, bad: 3 },
            { slot: 2, good: 1, bad: 1 },
          ],
        ],
        ['b', [{ slot: 2, good: 5, bad: 0 }]],
      ]),
      1000,
      1300,
      100,
      [
        { ts: 1000, live: 1, total: 2, rate: 0.5 },
        { ts: 1100, live: 0, total: 2, rate: 0 },
        { ts: 1200, live: 2, total: 2, rate: 1 },
      ],
    ],
    [
      'a partial last slot is a slot',
      new Map([['a', [{ slot: 1, good: 1, bad: 0 }]]]),
      0,
      150,
      100,
      [
        { ts: 0, live: 0, total: 1, rate: 0 },
        { ts: 100, live: 1, total: 1, rate: 1 },
      ],
    ],
    [
      'slots outside the range are ignored',
      new Map([
        [
          'a',
          [
            { slot: -1, good: 1, bad: 0 },
            { slot: 5, good: 1, bad: 0 },
          ],
        ],
      ]),
      0,
      100,
      100,
      [{ ts: 0, live: 0, total: 1, rate: 0 }],
    ],
  ] as const)('%s', (_what, counts, from, to, step, expected) => {
    expect(networkingSeries(counts, from, to, step)).toEqual(expected);
  });
});

describe('auth', () => {
  const tokens: TokenConfig[] = [
    { name: 'mes', system: 'MES', token: 'mes-secret-token', scopes: ['read'] },
    { name: 'op', system: 'platform', token: 'op-secret-token-longer', scopes: ['read', 'write'] },
    { name: 'w', system: 'platform', token: 'write-only-token', scopes: ['write'] },
  ];

  it.each([
    ['mes-secret-token', 'mes'],
    ['op-secret-token-longer', 'op'],
    ['mes-secret-token ', undefined],
    ['mes-secret-toke', undefined],
    ['', undefined],
  ])('matchToken(%j) → %s', (presented, name) => {
    expect(matchToken(tokens, presented)?.name).toBe(name);
  });

  it.each([
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['Bearer   abc  ', 'abc'],
    ['Bearer', undefined],
    ['Basic abc', undefined],
    ['Bearer a b', undefined],
    [undefined, undefined],
  ])('bearer(%j) → %j', (header, expected) => {
    expect(bearer(header)).toBe(expected);
  });

  it.each([
    ['127.0.0.1', true],
    ['127.8.9.1', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['10.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['192.168.1.127', false],
  ])('isLoopbackIp(%s) → %s', (ip, expected) => {
    expect(isLoopbackIp(ip)).toBe(expected);
  });

  const B = (t: string) => `Bearer ${t}`;
  it.each([
    ['public route', tokens, 'public', undefined, '10.0.0.1', undefined, undefined],
    ['no tokens, loopback read', [], 'read', undefined, '127.0.0.1', undefined, 'anonymous'],
    ['no tokens, loopback write', [], 'write', undefined, '127.0.0.1', 'GW_ERR_API_READ_ONLY', 'anonymous'],
    ['no tokens, remote read', [], 'read', undefined, '10.0.0.1', 'GW_ERR_API_LOOPBACK_ONLY', undefined],
    ['tokens, none presented', tokens, 'read', undefined, '127.0.0.1', 'GW_ERR_API_UNAUTHORIZED', undefined],
    ['tokens, wrong one', tokens, 'read', B('nope-nope-nope'), '127.0.0.1', 'GW_ERR_API_UNAUTHORIZED', undefined],
    ['read token reads', tokens, 'read', B('mes-secret-token'), '10.0.0.1', undefined, 'mes'],
    ['read token writes', tokens, 'write', B('mes-secret-token'), '10.0.0.1', 'GW_ERR_API_FORBIDDEN', 'mes'],
    ['write token writes', tokens, 'write', B('op-secret-token-longer'), '10.0.0.1', undefined, 'op'],
    ['write-only token reads', tokens, 'read', B('write-only-token'), '10.0.0.1', 'GW_ERR_API_FORBIDDEN', 'w'],
  ] as const)('%s', (_what, toks, access, header, ip, code, who) => {
    const d = decide(toks, access, header, ip);
    expect(d.refuse?.code).toBe(code);
    const p = d.principal;
    expect(p ? (p.kind === 'token' ? p.name : p.kind) : undefined).toBe(who);
    expect(d.failure === true).toBe(code === 'GW_ERR_API_UNAUTHORIZED');
  });
});

describe('audit helpers and scrubbing', () => {
  it.each([
    [200, 'ok'],
    [304, 'ok'],
    [400, 'error'],
    [401, 'denied'],
    [403, 'denied'],
    [404, 'error'],
    [429, 'denied'],
    [502, 'error'],
  ] as const)('status %i → %s', (status, result) => {
    expect(auditResult(status)).toBe(result);
  });

  it.each([
    [42.5, '42.5'],
    [true, 'true'],
    ['O1234', 'O1234'],
    [{ a: 1 }, '{"a":1}'],
    [undefined, undefined],
    ['x'.repeat(300), `${'x'.repeat(256)}…`],
  ])('valueText(%j) → %j', (v, expected) => {
    expect(valueText(v)).toBe(expected);
  });
});
