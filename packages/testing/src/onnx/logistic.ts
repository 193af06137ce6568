import { encodeOnnxModel, type OnnxNode, type OnnxTensor, type OnnxValueInfo } from './encode.js';

/** What a logistic-regression ONNX model can output, each as its own graph output. */
export type LogisticOutput = 'probability' | 'logit' | 'label';

/** Options of {@link logisticRegressionOnnx}. */
export interface LogisticRegressionOnnxOptions {
  /** One weight per feature column, in the order of the input's columns. */
  readonly weights: readonly number[];
  /** Intercept. */
  readonly bias: number;
  /** Name of the FP32 `[N, F]` input; default `"features"`. */
  readonly inputName?: string;
  /**
   * Outputs, in order; default `['probability']`. `probability` is FP32 `[N, 1]` (sigmoid),
   * `logit` FP32 `[N, 1]`, `label` INT64 `[N, 1]` (1 where probability > threshold).
   */
  readonly outputs?: readonly LogisticOutput[];
  /** Decision threshold of `label`; default 0.5. */
  readonly threshold?: number;
  /** Name of the dynamic batch dimension; default `"N"`. */
  readonly batchDim?: string;
  /** Extra `metadata_props` (model name, training info, ...). */
  readonly metadata?: Readonly<Record<string, string>>;
}

/**
 * Builds a logistic-regression ONNX model: `MatMul` + `Add` + `Sigmoid` over an FP32 input of
 * shape `[N, F]` with a dynamic batch dimension. Deterministic: the same options give the same
 * bytes (and so the same sha256).
 * @example
 * const bytes = logisticRegressionOnnx({ weights: [0.5, -1], bias: 0.1, outputs: ['probability', 'label'] });
 */
export function logisticRegressionOnnx(options: LogisticRegressionOnnxOptions): Uint8Array {
  const { weights, bias } = options;
  if (weights.length === 0)
    throw new RangeError('logisticRegressionOnnx needs at least one weight');
  for (const value of [...weights, bias]) {
    if (!Number.isFinite(value)) throw new RangeError(`weights and bias must be finite (${value})`);
  }
  const input = options.inputName ?? 'features';
  const outputs = options.outputs ?? ['probability'];
  if (outputs.length === 0)
    throw new RangeError('logisticRegressionOnnx needs at least one output');
  if (new Set(outputs).size !== outputs.length) throw new RangeError('outputs are listed twice');
  const batch = options.batchDim ?? 'N';
  const features = weights.length;

  const initializers: OnnxTensor[] = [
    { name: 'W', type: 'float32', dims: [features, 1], values: weights },
    { name: 'B', type: 'float32', dims: [1], values: [bias] },
  ];
  const nodes: OnnxNode[] = [
    { op: 'MatMul', inputs: [input, 'W'], outputs: ['xw'] },
    { op: 'Add', inputs: ['xw', 'B'], outputs: ['logit'] },
  ];
  if (outputs.includes('probability') || outputs.includes('label')) {
    nodes.push({ op: 'Sigmoid', inputs: ['logit'], outputs: ['probability'] });
  }
  if (outputs.includes('label')) {
    initializers.push({
      name: 'threshold',
      type: 'float32',
      dims: [1],
      values: [options.threshold ?? 0.5],
    });
    nodes.push(
      { op: 'Greater', inputs: ['probability', 'threshold'], outputs: ['above'] },
      { op: 'Cast', inputs: ['above'], outputs: ['label'], attributes: { to: { int: 7 } } },
    );
  }
  const outputInfo: OnnxValueInfo[] = outputs.map((name) => ({
    name,
    type: name === 'label' ? 'int64' : 'float32',
    shape: [batch, 1],
  }));
  return encodeOnnxModel({
    graphName: 'logistic_regression',
    inputs: [{ name: input, type: 'float32', shape: [batch, features] }],
    outputs: outputInfo,
    nodes,
    initializers,
    ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
  });
}

/** A trained logistic regression in the raw (unstandardized) feature space. */
export interface LogisticRegressionModel {
  /** One weight per feature. */
  readonly weights: readonly number[];
  /** Intercept. */
  readonly bias: number;
}

/** Options of {@link trainLogisticRegression}. */
export interface TrainLogisticRegressionOptions {
  /** Full-batch gradient-descent steps; default 500. */
  readonly epochs?: number;
  /** Step size (on standardized features); default 0.5. */
  readonly learningRate?: number;
  /** L2 penalty on the weights (not the bias); default 0. */
  readonly l2?: number;
  /** Standardize columns while training (weights are mapped back to raw units); default true. */
  readonly standardize?: boolean;
}

/** The result of {@link trainLogisticRegression}. */
export interface TrainedLogisticRegression extends LogisticRegressionModel {
  /** Mean log-loss on the training rows after the last step. */
  readonly loss: number;
  /** Steps taken. */
  readonly epochs: number;
  /** Column means used for standardization (zeros when not standardized). */
  readonly means: readonly number[];
  /** Column standard deviations used for standardization (ones when not standardized). */
  readonly scales: readonly number[];
}

/**
 * Trains a logistic regression with plain full-batch gradient descent in TypeScript: zero
 * initialization, fixed iteration order, no randomness, so the same rows give the same weights.
 * Columns are standardized while training and the weights folded back to raw units, so the model
 * (and {@link logisticRegressionOnnx}) takes raw feature values.
 * @example
 * const model = trainLogisticRegression([[1, 0], [0, 1]], [1, 0]);
 * const bytes = logisticRegressionOnnx(model);
 */
export function trainLogisticRegression(
  rows: readonly (readonly number[])[],
  labels: readonly (number | boolean)[],
  options: TrainLogisticRegressionOptions = {},
): TrainedLogisticRegression {
  const n = rows.length;
  if (n === 0) throw new RangeError('trainLogisticRegression needs at least one row');
  if (labels.length !== n) {
    throw new RangeError(`${n} rows but ${labels.length} labels`);
  }
  const f = rows[0]!.length;
  if (f === 0) throw new RangeError('rows need at least one column');
  const epochs = options.epochs ?? 500;
  const rate = options.learningRate ?? 0.5;
  const l2 = options.l2 ?? 0;
  if (!Number.isInteger(epochs) || epochs < 0)
    throw new RangeError('epochs must be an integer >= 0');
  if (!(rate > 0)) throw new RangeError('learningRate must be > 0');
  if (!(l2 >= 0)) throw new RangeError('l2 must be >= 0');

  const y = labels.map((label, i) => {
    const value = typeof label === 'boolean' ? Number(label) : label;
    if (value !== 0 && value !== 1) throw new RangeError(`labels[${i}] must be 0 or 1`);
    return value;
  });
  const means = new Array<number>(f).fill(0);
  const scales = new Array<number>(f).fill(1);
  rows.forEach((row, i) => {
    if (row.length !== f) throw new RangeError(`rows[${i}] has ${row.length} columns, not ${f}`);
    row.forEach((value, j) => {
      if (!Number.isFinite(value)) throw new RangeError(`rows[${i}][${j}] is not finite`);
    });
  });
  if (options.standardize ?? true) {
    for (let j = 0; j < f; j++) {
      let sum = 0;
      for (const row of rows) sum += row[j]!;
      const mean = sum / n;
      let squares = 0;
      for (const row of rows) squares += (row[j]! - mean) ** 2;
      const sd = Math.sqrt(squares / n);
      means[j] = mean;
      scales[j] = sd > 0 ? sd : 1;
    }
  }
  const x = rows.map((row) => row.map((value, j) => (value - means[j]!) / scales[j]!));

  const w = new Array<number>(f).fill(0);
  let b = 0;
  const gradient = new Array<number>(f);
  for (let epoch = 0; epoch < epochs; epoch++) {
    gradient.fill(0);
    let gradientBias = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      let z = b;
      for (let j = 0; j < f; j++) z += w[j]! * xi[j]!;
      const error = sigmoid(z) - y[i]!;
      for (let j = 0; j < f; j++) gradient[j] = gradient[j]! + error * xi[j]!;
      gradientBias += error;
    }
    for (let j = 0; j < f; j++) w[j] = w[j]! - rate * (gradient[j]! / n + l2 * w[j]!);
    b -= rate * (gradientBias / n);
  }
  let loss = 0;
  for (let i = 0; i < n; i++) {
    let z = b;
    for (let j = 0; j < f; j++) z += w[j]! * x[i]![j]!;
    const p = Math.min(Math.max(sigmoid(z), 1e-15), 1 - 1e-15);
    loss -= y[i]! * Math.log(p) + (1 - y[i]!) * Math.log(1 - p);
  }
  // Fold the standardization into raw-unit weights: w'_j = w_j / s_j, b' = b - sum w_j m_j / s_j.
  const weights = w.map((value, j) => value / scales[j]!);
  const bias = b - w.reduce((sum, value, j) => sum + (value * means[j]!) / scales[j]!, 0);
  return { weights, bias, loss: loss / n, epochs, means, scales };
}

/**
 * The TypeScript reference of a logistic regression: one probability per row (float64). ONNX
 * computes in float32, so compare with a tolerance of about 1e-6.
 */
export function predictLogisticRegression(
  model: LogisticRegressionModel,
  rows: readonly (readonly number[])[],
): number[] {
  return rows.map((row, i) => {
    if (row.length !== model.weights.length) {
      throw new RangeError(`rows[${i}] has ${row.length} columns, not ${model.weights.length}`);
    }
    let z = model.bias;
    row.forEach((value, j) => {
      z += model.weights[j]! * value;
    });
    return sigmoid(z);
  });
}

function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}
