import { PGlite } from '@electric-sql/pglite';

/**
 * Booting a PGlite instance costs 2-3 s of CPU (it runs initdb in WASM), so instances are reused
 * within a process: a handle gets an instance of its own (PGlite is a single session, and the
 * session's search_path is what isolates a handle), and gives it back on close. At most this many
 * idle instances are kept; the others are closed.
 */
const MAX_IDLE = 1;

const idle: PGlite[] = [];

/** An in-memory PGlite instance for exclusive use until {@link releasePglite}. */
export async function acquirePglite(): Promise<PGlite> {
  for (let instance = idle.pop(); instance !== undefined; instance = idle.pop()) {
    if (!instance.closed) return instance;
  }
  return PGlite.create();
}

/**
 * Gives back an instance from {@link acquirePglite}: its session is reset with `DISCARD ALL`
 * (settings, temporary tables, prepared statements, listeners) and it is kept for the next
 * handle; when that fails (e.g. a transaction was left open) or enough instances are idle, it is
 * closed instead. The caller drops its schema first.
 */
export async function releasePglite(instance: PGlite, reusable: boolean): Promise<void> {
  if (instance.closed) return;
  if (reusable && idle.length < MAX_IDLE) {
    try {
      await instance.exec('DISCARD ALL');
      idle.push(instance);
      return;
    } catch {
      // Fall through: an instance in an unknown state is not reused.
    }
  }
  await instance.close();
}
