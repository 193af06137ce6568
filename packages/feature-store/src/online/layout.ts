import { createHash } from 'node:crypto';
import {
  type AnyFeature,
  type FeatureIR,
  fingerprint,
  type SourceIR,
  type TileCodec,
  type TileLadder,
  tileCodec,
  tileLadder,
  tileSize,
} from '@tandem/core';

/** An aggregation feature's IR. */
export type AggregationIR = Extract<FeatureIR, { kind: 'aggregation' }>;

/** How one aggregation feature lives online. */
export interface OnlineFeature {
  readonly feature: AnyFeature;
  readonly ir: AggregationIR;
  /** First 16 hex digits of the definition fingerprint: part of every field name. */
  readonly fp: string;
  readonly ladder: TileLadder;
  readonly codec: TileCodec;
  /** `l` for lifetime ladders (tiles never expire), `w` otherwise. */
  readonly tileClass: 'l' | 'w';
  /**
   * The field of the feature's window cache in the entity's meta hash: it holds
   * `"<lo> <hi> <mark> <body start> <head start>|<parts>"` (base 36): the range of events it
   * takes, the latest time one of them becomes visible, the read plan it answers, then the
   * window's state (the merged covering tiles and every head event) as its codec parts, in order,
   * separated by `\x1f` (an empty part: absent).
   */
  readonly cacheField: string;
}

/** Tiles of both layers live in hashes, one per entity, source, class and 2^30 ms bucket. */
export const BUCKET_MS = 2 ** 30;

/** Layers: `s` is written by streaming ingestion, `b` by batch materialization. */
export type Layer = 's' | 'b';

/** Compiles the online form of an aggregation feature. */
export function onlineFeature(feature: AnyFeature): OnlineFeature {
  const ir = feature.ir as AggregationIR;
  const ladder = tileLadder(ir.window, ir.aggregation);
  const fp = fingerprint(ir).slice(0, 16);
  const codec = tileCodec(ir);
  return {
    feature,
    ir,
    fp,
    ladder,
    codec,
    tileClass: ladder.lifetime ? 'l' : 'w',
    cacheField: `c:${fp}`,
  };
}

/** The aggregation features of a source kept online, and the source's key lifetimes. */
export interface OnlineSource {
  readonly source: SourceIR;
  readonly features: readonly OnlineFeature[];
  /** The largest grain of its features, ms. */
  readonly maxGrain: number;
  /** The longest reach of its windowed (`w`) features, ms. */
  readonly reach: number;
  /** True when some feature has a lifetime ladder. */
  readonly lifetime: boolean;
  /**
   * The definition fingerprint of every feature, as the JSON object `{ name: fp }` (names
   * sorted): what writes leave in the meta hash's `f` field.
   */
  readonly fingerprints: string;
  /**
   * 16 hex digits of the SHA-256 of {@link fingerprints}: what writes leave in the meta hash's
   * `d` field, which a read compares with its own instead of reading the whole map.
   */
  readonly fingerprintsDigest: string;
}

/** Groups online features by source. */
export function onlineSources(features: readonly OnlineFeature[]): Map<string, OnlineSource> {
  const groups = new Map<string, OnlineFeature[]>();
  for (const f of features) {
    const list = groups.get(f.ir.source.name) ?? [];
    if (!list.some((g) => g.fp === f.fp)) list.push(f);
    groups.set(f.ir.source.name, list);
  }
  return new Map(
    [...groups].map(([name, list]) => {
      const fingerprints = JSON.stringify(
        Object.fromEntries(
          list.map((f) => [f.feature.name, f.fp] as const).sort(([a], [b]) => (a < b ? -1 : 1)),
        ),
      );
      const source: OnlineSource = {
        source: list[0]!.ir.source,
        features: list,
        maxGrain: Math.max(...list.map((f) => f.ladder.grain)),
        reach: Math.max(0, ...list.filter((f) => !f.ladder.lifetime).map((f) => f.ladder.reach)),
        lifetime: list.some((f) => f.ladder.lifetime),
        fingerprints,
        fingerprintsDigest: createHash('sha256').update(fingerprints).digest('hex').slice(0, 16),
      };
      return [name, source] as const;
    }),
  );
}

/**
 * Key names. Every key of one entity carries the same Redis Cluster hash tag, `{entity:keys}`, so
 * one entity's keys share a slot and a Lua call can touch them all.
 */
export interface EntityKeys {
  readonly tag: string;
  /** Dedupe set of a source (event ids scored by ts). */
  readonly seen: (source: string) => string;
  /** Raw head of a source (event JSON scored by ts). */
  readonly raw: (source: string) => string;
  /**
   * Meta hash of a source: `f` = the last writer's definition fingerprints (see
   * {@link OnlineSource.fingerprints}), `d` = their digest, `u` = last write time, `v` = write
   * counter, and the window cache (`c:<fp>`, see {@link OnlineFeature.cacheField}).
   */
  readonly meta: (source: string) => string;
  /** Tile hash of a layer, source, class and bucket. */
  readonly tiles: (layer: Layer, source: string, tileClass: 'l' | 'w', bucket: number) => string;
}

/** The keys of one entity in a namespace. */
export function entityKeys(
  namespace: string,
  entity: { readonly name: string; readonly keys: Readonly<Record<string, unknown>> },
  key: Readonly<Record<string, string | number>>,
): EntityKeys {
  const parts = Object.keys(entity.keys).map((name) => encodeURIComponent(String(key[name])));
  const tag = `{${encodeURIComponent(entity.name)}:${parts.join(':')}}`;
  const base = `${namespace}:${tag}`;
  return {
    tag,
    seen: (source) => `${base}:d:${source}`,
    raw: (source) => `${base}:r:${source}`,
    meta: (source) => `${base}:m:${source}`,
    tiles: (layer, source, tileClass, bucket) =>
      `${base}:t:${layer}:${source}:${tileClass}:${bucket}`,
  };
}

/** The bucket of a tile start. */
export function bucketOf(start: number): number {
  return Math.floor(start / BUCKET_MS);
}

/**
 * The common start of the fields of one feature's tile, `<fp>:<level>:<start36>:`: a part's
 * field is this prefix and the part.
 */
export function tileFieldPrefix(feature: OnlineFeature, level: number, start: number): string {
  return `${feature.fp}:${level}:${start.toString(36)}:`;
}

/**
 * Time to live of a tile bucket key written at `now`, ms (Infinity for lifetime tiles). A tile is
 * read until `reach` after it ends; a tile starting in the bucket is at most `reach` long.
 */
export function bucketTtl(
  source: OnlineSource,
  tileClass: 'l' | 'w',
  bucket: number,
  now: number,
  lateness: number,
): number {
  if (tileClass === 'l') return Infinity;
  return (bucket + 1) * BUCKET_MS + 2 * source.reach + lateness - now;
}

/** The end of a tile. */
export function tileEnd(feature: OnlineFeature, level: number, start: number): number {
  return start + tileSize(feature.ladder, level);
}
