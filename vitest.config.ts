import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'adapters/**/*.test.ts', 'ingest/**/*.test.ts', 'verify/**/*.test.ts', 'gateway/**/*.test.ts', 'config/**/*.test.ts'],
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    env: { XDG_CONFIG_HOME: '/tmp/fgw-test-xdg' },
  },
});
