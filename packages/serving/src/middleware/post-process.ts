import type { OnlineFeatureRow } from '../features/source.js';
import type { Tensor } from '../models/tensor.js';

/** A JSON-ready output value: a number, string or boolean, or a (nested) list of them. */
export type OutputValue = number | string | boolean | null | readonly OutputValue[];

/** What a post-processing hook sees besides the outputs. */
export interface PostProcessContext {
  /** Model name and version that produced the outputs. */
  readonly model: { readonly name: string; readonly version: string };
  /** The validated request. */
  readonly request: Readonly<Record<string, unknown>>;
  /** The features the model saw. */
  readonly features: OnlineFeatureRow;
}

/**
 * Turns a model's outputs for one request (`{ outputName: value }`, one row) into the
 * prediction sent back (thresholds, labels, rounding, renaming). The default returns the outputs
 * object as it is.
 */
export type PostProcess = (
  outputs: Readonly<Record<string, OutputValue>>,
  context: PostProcessContext,
) => unknown;

/**
 * The JSON value of one row's output tensor: a scalar when it holds one value, else a (nested,
 * by `dims`) list. 64-bit integers become numbers; NaN and infinities become null.
 */
export function outputValue(tensor: Tensor): OutputValue {
  const data = tensor.data as ArrayLike<number | bigint | string>;
  const convert = (raw: number | bigint | string): OutputValue => {
    if (tensor.type === 'bool') return raw === 1;
    if (typeof raw === 'bigint') return Number(raw);
    if (typeof raw === 'number') return Number.isFinite(raw) ? raw : null;
    return raw;
  };
  if (data.length === 1) return convert(data[0]!);
  const dims = tensor.dims.length === 0 ? [data.length] : tensor.dims;
  const build = (level: number, offset: number): [OutputValue[], number] => {
    const size = dims[level]!;
    const out: OutputValue[] = [];
    let at = offset;
    for (let i = 0; i < size; i++) {
      if (level === dims.length - 1) out.push(convert(data[at++]!));
      else {
        const [inner, next] = build(level + 1, at);
        out.push(inner);
        at = next;
      }
    }
    return [out, at];
  };
  return build(0, 0)[0];
}

/** The JSON values of one row's outputs. */
export function outputValues(
  outputs: Readonly<Record<string, Tensor>>,
): Record<string, OutputValue> {
  const values: Record<string, OutputValue> = {};
  for (const name in outputs) {
    if (Object.hasOwn(outputs, name)) values[name] = outputValue(outputs[name]!);
  }
  return values;
}

/** Options of {@link thresholdLabel}. */
export interface ThresholdLabelOptions {
  /** Output holding the score; default the first output. */
  readonly output?: string;
  /** Scores above this get the positive label; default 0.5. */
  readonly threshold?: number;
  /** `[negative, positive]` labels; default `[false, true]`. */
  readonly labels?: readonly [unknown, unknown];
}

/**
 * A post-processing hook for binary classifiers: `{ score, label }` from a score output, with
 * a threshold and labels.
 * @example
 * postProcess: thresholdLabel({ output: 'probability', threshold: 0.8, labels: ['legit', 'fraud'] })
 */
export function thresholdLabel(options: ThresholdLabelOptions = {}): PostProcess {
  const threshold = options.threshold ?? 0.5;
  const [negative, positive] = options.labels ?? [false, true];
  return (outputs) => {
    const name = options.output ?? Object.keys(outputs)[0];
    let score = name === undefined ? null : outputs[name];
    while (Array.isArray(score)) score = score[0] ?? null;
    const numeric = typeof score === 'number' ? score : null;
    return {
      score: numeric,
      label: numeric === null ? null : numeric > threshold ? positive : negative,
    };
  };
}

/** Options of {@link argmaxLabel}. */
export interface ArgmaxLabelOptions {
  /** Output holding one score per class; default the first output. */
  readonly output?: string;
  /** Class labels, in output order. */
  readonly labels: readonly unknown[];
}

/**
 * A post-processing hook for multi-class models: `{ label, score, scores }` where `label` is the
 * class with the highest score.
 */
export function argmaxLabel(options: ArgmaxLabelOptions): PostProcess {
  return (outputs) => {
    const name = options.output ?? Object.keys(outputs)[0];
    let scores = name === undefined ? null : outputs[name];
    while (Array.isArray(scores) && scores.length === 1 && Array.isArray(scores[0])) {
      scores = scores[0];
    }
    const list = (Array.isArray(scores) ? scores : [scores]).map((s) =>
      typeof s === 'number' ? s : Number.NEGATIVE_INFINITY,
    );
    let best = 0;
    for (let i = 1; i < list.length; i++) if (list[i]! > list[best]!) best = i;
    return {
      label: options.labels[best] ?? best,
      score: Number.isFinite(list[best]!) ? list[best] : null,
      scores: Object.fromEntries(
        list.map((s, i) => [String(options.labels[i] ?? i), Number.isFinite(s) ? s : null]),
      ),
    };
  };
}
