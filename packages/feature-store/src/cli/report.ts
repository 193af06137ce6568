import type { RegistryPlan } from '../registry/registry.js';

const short = (fingerprint: string) => fingerprint.slice(0, 12);

/**
 * The human report of a plan: features (`+` added, `~` changed, `-` removed, `=` unchanged),
 * tables, index recommendations and problems. `applied` words it as done rather than to do.
 */
export function formatPlan(plan: RegistryPlan, applied: boolean): string {
  const lines: string[] = [];
  const width = Math.max(
    0,
    ...[...plan.added, ...plan.changed, ...plan.removed, ...plan.unchanged].map(
      (f) => f.name.length,
    ),
  );
  const name = (text: string) => text.padEnd(width);
  const forced = new Set(plan.needsForce);
  lines.push(`Features (schema ${plan.schema}):`);
  for (const f of plan.added) {
    const note = !forced.has(f.name)
      ? ''
      : applied
        ? '  [redefined a materialized feature: forced, materialization reset]'
        : '  [redefines a materialized feature: needs --force]';
    lines.push(`  + ${name(f.name)}  v${f.version}  ${short(f.fingerprint)}${note}`);
  }
  for (const f of plan.changed) {
    const note = f.materialized
      ? applied
        ? '  [materialized: forced, materialization reset]'
        : '  [materialized: needs --force]'
      : '';
    lines.push(
      `  ~ ${name(f.name)}  v${f.previousVersion} -> v${f.version}  ${short(f.previousFingerprint)} -> ${short(f.fingerprint)}${note}`,
    );
  }
  for (const f of plan.removed) {
    lines.push(`  - ${name(f.name)}  v${f.version}  ${short(f.fingerprint)}`);
  }
  for (const f of plan.unchanged) {
    lines.push(`  = ${name(f.name)}  v${f.version}  ${short(f.fingerprint)}`);
  }
  if (plan.tables.length > 0) {
    lines.push('', 'Source tables:');
    for (const t of plan.tables) {
      const state = t.managed
        ? t.exists
          ? 'managed, exists'
          : applied
            ? 'managed, created'
            : 'managed, will be created'
        : t.exists
          ? 'user-owned'
          : 'user-owned, MISSING';
      const mark = t.exists ? ' ' : t.managed ? '+' : '!';
      lines.push(`  ${mark} ${t.table}  (source ${t.source}, ${state})`);
    }
  }
  if (plan.indexes.length > 0) {
    lines.push(
      '',
      "Recommended indexes (Tandem's point-in-time reads look up (keys, time) ranges; Tandem does not alter your tables):",
    );
    for (const index of plan.indexes) lines.push(`  ${index.statement}`);
  }
  if (plan.issues.length > 0) {
    lines.push('', 'Problems (apply refuses until they are fixed):');
    for (const issue of plan.issues) {
      lines.push(`  ${issue.code} ${issue.path}: ${issue.message}`);
    }
  }
  const counts = `${plan.added.length} added, ${plan.changed.length} changed, ${plan.removed.length} removed, ${plan.unchanged.length} unchanged`;
  lines.push('', applied ? `Applied: ${counts}.` : `Plan: ${counts}.`);
  if (!applied && plan.needsForce.length > 0) {
    lines.push(
      `apply will refuse without --force: ${plan.needsForce.join(', ')} ${plan.needsForce.length === 1 ? 'is' : 'are'} materialized and would change.`,
    );
  }
  return `${lines.join('\n')}\n`;
}
