import { defineConfig } from 'vitest/config';

/**
 * One vitest run for the whole monorepo. Workspace packages resolve to their TypeScript sources
 * through the `tandem-source` export condition, so no build step is needed before testing.
 */
export default defineConfig({
  resolve: { conditions: ['tandem-source'] },
  ssr: { resolve: { conditions: ['tandem-source'] } },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'examples/*/src/**/*.test.ts',
    ],
    typecheck: {
      enabled: true,
      include: ['packages/*/src/**/*.test-d.ts'],
      tsconfig: './tsconfig.base.json',
    },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
