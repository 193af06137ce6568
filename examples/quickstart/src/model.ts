/**
 * The fraud model: synthetic labels on the training set, a logistic regression trained in
 * TypeScript (`trainLogisticRegression` of `@tandem/testing`: full-batch gradient descent, no
 * randomness), exported to ONNX (`logisticRegressionOnnx`: MatMul + Add + Sigmoid over a float32
 * `[N, F]` input) and checked against the TypeScript reference model.
 */
import { createHash } from 'node:crypto';
import type { FeatureService } from '@tandem/core';
import {
  type LogisticRegressionModel,
  logisticRegressionOnnx,
  predictLogisticRegression,
  type TrainedLogisticRegression,
  trainLogisticRegression,
} from '@tandem/testing';
import { prng } from './data.js';

/** A trained model, its ONNX bytes and their checksum. */
export interface TrainedModel {
  /** Raw-unit weights (tensor column order) and bias, loss and epochs. */
  readonly model: TrainedLogisticRegression;
  /** The ONNX artifact. */
  readonly onnx: Uint8Array;
  /** `sha256:<hex>` of the artifact, checked by the model registry before it loads. */
  readonly sha256: string;
  /** Training rows and how many are labelled fraud. */
  readonly rows: number;
  readonly positives: number;
}

/**
 * The row of a service's feature values as the model's input: layout order, booleans as 0/1.
 * @throws {TypeError} when a value is not a number or a boolean (the model takes no nulls).
 */
export function modelInput(
  service: FeatureService,
  values: Readonly<Record<string, unknown>>,
): number[] {
  return service.layout.map(({ name }) => {
    const value = values[name];
    if (typeof value === 'boolean') return value ? 1 : 0;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new TypeError(`feature ${name} is ${String(value)}, not a number`);
    }
    return value;
  });
}

/**
 * Synthetic ground truth: a payment is fraud with probability `sigmoid(z)`, where `z` grows with
 * how far the amount is above the user's recent average ticket and with recent refunds, and
 * shrinks with a busy 7-day history. Seeded: the same rows always get the same labels.
 */
export function labelRows(rows: readonly Readonly<Record<string, unknown>>[], seed = 7): number[] {
  const random = prng(seed);
  return rows.map((row) => {
    const ratio = row.amount_log_ratio as number;
    const refunds = row.refunds_30d as number;
    const count = row.tx_count_7d as number;
    const z = -7 + 1.6 * ratio + 0.8 * refunds - 0.05 * count;
    return random() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  });
}

/** Trains the fraud model on labelled feature rows and exports it to ONNX. */
export function trainFraudModel(
  service: FeatureService,
  rows: readonly Readonly<Record<string, unknown>>[],
): TrainedModel {
  const inputs = rows.map((row) => modelInput(service, row));
  const labels = labelRows(rows);
  const model = trainLogisticRegression(inputs, labels, { epochs: 400, learningRate: 0.5 });
  const onnx = logisticRegressionOnnx({
    weights: model.weights,
    bias: model.bias,
    outputs: ['probability'],
    metadata: { service: service.name, trainer: '@tandem/testing trainLogisticRegression' },
  });
  const sha256 = `sha256:${createHash('sha256').update(onnx).digest('hex')}`;
  return {
    model,
    onnx,
    sha256,
    rows: rows.length,
    positives: labels.reduce((sum, label) => sum + label, 0),
  };
}

/** The TypeScript reference model: the fraud probability of one input row (float64). */
export function referenceScore(model: LogisticRegressionModel, input: readonly number[]): number {
  return predictLogisticRegression(model, [input])[0]!;
}
