/**
 * The quickstart on the embedded default: the offline store on PGlite (PostgreSQL compiled to
 * WASM, in memory) and the in-process online store. No service to install or start.
 */
import { PGlite } from '@electric-sql/pglite';
import { memoryAdapter, pgliteExecutor } from '@tandem/feature-store';
import { sql } from 'drizzle-orm';
import { type DemoOptions, type DemoResult, runDemo } from './pipeline.js';

/** Runs the demo on PGlite and the in-process online store. */
export async function main(options: DemoOptions = {}): Promise<DemoResult> {
  const pglite = await PGlite.create();
  const adapter = memoryAdapter();
  try {
    const executor = pgliteExecutor(pglite);
    const [{ version } = { version: '' }] = await executor.query<{ version: string }>(
      sql`SELECT version() AS version`,
    );
    return await runDemo(
      {
        executor,
        schema: 'tandem',
        adapter,
        namespace: 'quickstart',
        offlineLabel: `PGlite, ${version.split(' on ')[0]} (in memory)`,
        onlineLabel: 'in-process',
      },
      options,
    );
  } finally {
    await adapter.close();
    await pglite.close();
  }
}
