import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeCsv, writeJsonl } from './write.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tandem-export-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const rows = [
  {
    user_id: 'u,1',
    ts: 1_700_000_000_000,
    label: 'say "hi"\nbye',
    amount_sum: 12.5,
    qty: -3,
    merchant: '',
    approved: true,
    recent: [1.5, null, -2],
    tags: ['a,"b"', 'é🎉'],
  },
  {
    user_id: 'u2',
    ts: 1_700_000_000_001,
    label: null,
    amount_sum: 0.1 + 0.2,
    qty: null,
    merchant: 'x\r\ny',
    approved: false,
    recent: [],
    tags: null,
  },
];

async function* stream<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const item of items) yield item;
}

describe('CSV export', () => {
  it('writes a header and RFC 4180 records that parse back; lists as JSON, null empty', async () => {
    const file = join(dir, 'set.csv');
    expect(await writeCsv(stream(rows), createWriteStream(file))).toEqual({ rows: 2 });
    const text = await readFile(file, 'utf8');
    expect(text.split('\n')[0]).toBe(
      'user_id,ts,label,amount_sum,qty,merchant,approved,recent,tags',
    );
    const parsed = parse(text, { columns: true }) as Record<string, string>[];
    expect(parsed).toEqual([
      {
        user_id: 'u,1',
        ts: '1700000000000',
        label: 'say "hi"\nbye',
        amount_sum: '12.5',
        qty: '-3',
        merchant: '',
        approved: 'true',
        recent: '[1.5,null,-2]',
        tags: '["a,\\"b\\"","é🎉"]',
      },
      {
        user_id: 'u2',
        ts: '1700000000001',
        label: '',
        amount_sum: String(0.1 + 0.2),
        qty: '',
        merchant: 'x\r\ny',
        approved: 'false',
        recent: '[]',
        tags: '',
      },
    ]);
    expect(Number(parsed[1]!.amount_sum)).toBe(0.1 + 0.2);
    // An empty string is quoted, null is not (as Postgres COPY CSV tells them apart).
    expect(text).toContain('"say ""hi""\nbye",12.5,-3,"",true');
    expect(text).toContain('u2,1700000000001,,');
  });

  it('writes nothing for no rows, and names a column missing from the header', async () => {
    const empty = join(dir, 'empty.csv');
    expect(await writeCsv([], createWriteStream(empty))).toEqual({ rows: 0 });
    expect(await readFile(empty, 'utf8')).toBe('');
    const bad = join(dir, 'bad.csv');
    await expect(
      writeCsv(stream([{ a: 1 }, { a: 2 }, { a: 3, b: 4 }]), createWriteStream(bad)),
    ).rejects.toThrow(expect.objectContaining({ code: 'UNKNOWN_COLUMN', path: 'rows[2].b' }));
    // A later row may lack a column: its field is empty.
    const partial = join(dir, 'partial.csv');
    await writeCsv([{ a: 1, b: 2 }, { a: 3 }], createWriteStream(partial));
    expect(await readFile(partial, 'utf8')).toBe('a,b\n1,2\n3,\n');
  });
});

describe('JSONL export', () => {
  it('writes one JSON object per line that parses back', async () => {
    const file = join(dir, 'set.jsonl');
    expect(await writeJsonl(stream(rows), createWriteStream(file))).toEqual({ rows: 2 });
    const lines = (await readFile(file, 'utf8')).split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1).map((line) => JSON.parse(line))).toEqual(rows);
  });
});

/** A writable that takes one chunk per event-loop turn, with a one-chunk buffer. */
function slowSink(): Writable & { text: string; lines: number } {
  const sink = Object.assign(
    new Writable({
      highWaterMark: 1,
      write(chunk, _encoding, done) {
        const text = String(chunk);
        for (const c of text) if (c === '\n') sink.lines++;
        if (sink.text.length < 1_000) sink.text += text;
        setImmediate(done);
      },
    }),
    { text: '', lines: 0 },
  );
  return sink;
}

describe('backpressure', () => {
  it.each([
    ['csv', writeCsv],
    ['jsonl', writeJsonl],
  ] as const)('%s pulls rows only as fast as a slow writable drains', async (_, write) => {
    const total = 2_000;
    const big = 'x'.repeat(2_000);
    let produced = 0;
    let lead = 0;
    let sink: ReturnType<typeof slowSink> | undefined;
    async function* source() {
      for (let i = 0; i < total; i++) {
        produced++;
        lead = Math.max(lead, produced - (sink?.lines ?? 0));
        yield { i, big };
      }
    }
    sink = slowSink();
    expect(await write(source(), sink)).toEqual({ rows: total });
    expect(produced).toBe(total);
    // Only the streams' small buffers run ahead (object buffers of 16, the CSV stringifier's 16 KiB).
    expect(lead).toBeLessThan(100);
  });

  it('leaves the writable open with end: false', async () => {
    const sink = slowSink();
    await writeJsonl([{ a: 1 }], sink, { end: false });
    expect(sink.writableEnded).toBe(false);
    await writeJsonl([{ a: 2 }], sink);
    expect(sink.writableEnded).toBe(true);
    expect(sink.text).toBe('{"a":1}\n{"a":2}\n');
  });
});
