import type { FeatureService } from '@tandem/core';
import {
  type FeatureBins,
  featureBins,
  psiFromCounts,
  type TrainingStatistics,
} from '@tandem/feature-store';
import { ServingError } from '../errors/errors.js';

/** Options of {@link createDriftMonitor}. */
export interface DriftMonitorOptions {
  /** The feature service whose requests are watched. */
  readonly service: FeatureService;
  /** Statistics of the training set (`loadTrainingStatistics(...).statistics`). */
  readonly statistics: TrainingStatistics;
  /** Recent values kept per feature (sliding window); default 1000. */
  readonly windowSize?: number;
  /** Values a feature needs before its PSI is reported; default 100. */
  readonly minSamples?: number;
}

/**
 * Per-feature drift of live requests against training-set statistics: each served feature value
 * is binned like the training set (see `featureBins`) into a sliding window, and the population
 * stability index of the window is computed on demand (at scrape time).
 */
export interface DriftMonitor {
  /** The service watched. */
  readonly service: string;
  /** Features compared (same name and fingerprint in the statistics and the service). */
  readonly features: readonly string[];
  /** Features of the service not compared, with the reason. */
  readonly skipped: readonly { readonly feature: string; readonly reason: string }[];
  /** Adds one row of served feature values (name -> value). */
  observe(values: Readonly<Record<string, unknown>>): void;
  /** PSI of every compared feature with enough samples. */
  psi(): Record<string, number>;
}

interface Tracked {
  readonly name: string;
  readonly bins: FeatureBins;
  readonly ring: Int32Array;
  readonly counts: Float64Array;
  next: number;
  filled: number;
}

/**
 * Creates a {@link DriftMonitor}.
 * @throws {ServingError} `INVALID_OPTIONS` for a bad window size.
 */
export function createDriftMonitor(options: DriftMonitorOptions): DriftMonitor {
  const windowSize = options.windowSize ?? 1000;
  const minSamples = options.minSamples ?? 100;
  if (!(Number.isInteger(windowSize) && windowSize >= 1 && minSamples >= 1)) {
    throw new ServingError('INVALID_OPTIONS', 'drift windowSize and minSamples must be >= 1');
  }
  const byName = new Map(options.statistics.features.map((f) => [f.name, f]));
  const tracked: Tracked[] = [];
  const skipped: { feature: string; reason: string }[] = [];
  for (const entry of options.service.layout) {
    const stats = byName.get(entry.name);
    if (stats === undefined) {
      skipped.push({ feature: entry.name, reason: 'not in the training statistics' });
      continue;
    }
    if (stats.fingerprint !== entry.fingerprint) {
      skipped.push({ feature: entry.name, reason: 'defined differently than at training time' });
      continue;
    }
    let bins: FeatureBins;
    try {
      bins = featureBins(stats);
    } catch (error) {
      skipped.push({
        feature: entry.name,
        reason: error instanceof Error ? error.message : String(error),
      });
      continue;
    }
    tracked.push({
      name: entry.name,
      bins,
      ring: new Int32Array(windowSize),
      counts: new Float64Array(bins.expected.length),
      next: 0,
      filled: 0,
    });
  }
  return {
    service: options.service.name,
    features: tracked.map((t) => t.name),
    skipped,
    observe(values) {
      for (const t of tracked) {
        let bin: number;
        try {
          bin = t.bins.bin(values[t.name] ?? null);
        } catch {
          continue; // A value of the wrong type is not drift; validation reports it elsewhere.
        }
        if (t.filled === windowSize) t.counts[t.ring[t.next]!]!--;
        else t.filled++;
        t.ring[t.next] = bin;
        t.counts[bin]!++;
        t.next = (t.next + 1) % windowSize;
      }
    },
    psi() {
      const out: Record<string, number> = {};
      for (const t of tracked) {
        if (t.filled < minSamples) continue;
        out[t.name] = psiFromCounts(t.bins.expected, Array.from(t.counts));
      }
      return out;
    },
  };
}
