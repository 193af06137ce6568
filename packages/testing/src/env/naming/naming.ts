import { randomBytes } from 'node:crypto';

/** PostgreSQL truncates identifiers longer than this many bytes (NAMEDATALEN - 1). */
export const MAX_IDENTIFIER_BYTES = 63;

const PREFIX = 'test_';
const SUFFIX_HEX_CHARS = 8;

/**
 * Turns a free-form label into `[a-z0-9_]+`: lower-cases it, replaces every run of other
 * characters with one `_` and trims `_` at both ends. Returns `''` when nothing usable is left.
 *
 * @param label - any human-readable text, e.g. a test-file or suite name
 */
export function sanitizeLabel(label: string): string {
  return label
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_+|_+$/g, '');
}

/**
 * A name that is readable, unique per call and safe as an unquoted PostgreSQL identifier and as
 * a Redis key segment: `test_<sanitized label>_<8 random hex chars>`, at most 63 bytes, only
 * `[a-z0-9_]`, always starting with a letter.
 *
 * @param label - what the name is for; sanitized with {@link sanitizeLabel} and truncated
 */
export function uniqueName(label: string): string {
  const suffix = randomBytes(SUFFIX_HEX_CHARS / 2).toString('hex');
  const room = MAX_IDENTIFIER_BYTES - PREFIX.length - 1 - SUFFIX_HEX_CHARS;
  const readable = sanitizeLabel(label).slice(0, room).replace(/_+$/, '');
  return readable === '' ? `${PREFIX}${suffix}` : `${PREFIX}${readable}_${suffix}`;
}
