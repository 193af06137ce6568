#!/usr/bin/env node
// The `tandem` CLI. Inside the monorepo it runs the TypeScript sources (no build step): tsx
// compiles them, and workspace packages resolve to their sources through the `tandem-source`
// export condition. An installed package runs the compiled `dist`.
import { existsSync } from 'node:fs';
import { register } from 'node:module';
import { fileURLToPath } from 'node:url';

const sources = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(fileURLToPath(sources))) {
  register('./source-condition.js', import.meta.url);
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  await import(sources.href);
} else {
  await import('../dist/cli/main.js');
}
