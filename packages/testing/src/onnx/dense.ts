import { encodeOnnxModel, type OnnxNode, type OnnxTensor } from './encode.js';

/** Options of {@link denseNetworkOnnx}. */
export interface DenseNetworkOnnxOptions {
  /** Width of the FP32 `[N, inputSize]` input. */
  readonly inputSize: number;
  /** Hidden layer widths (ReLU); e.g. `[512, 512, 512]` for a model heavy enough to need a worker. */
  readonly hidden: readonly number[];
  /** Seed of the deterministic weights; default 1. */
  readonly seed?: number;
  /** Input name; default `"features"`. */
  readonly inputName?: string;
  /** Output name (FP32 `[N, 1]`, sigmoid); default `"score"`. */
  readonly outputName?: string;
}

/** The weights of a dense network, as {@link denseNetworkOnnx} encodes them. */
export interface DenseNetworkWeights {
  /** Per layer: a row-major `[in, out]` matrix and an `out` bias. */
  readonly layers: readonly { readonly w: Float32Array; readonly b: Float32Array }[];
  /** Per layer: `[in, out]`. */
  readonly shapes: readonly (readonly [number, number])[];
}

/**
 * The deterministic weights of a dense network: uniform in `±1/sqrt(fanIn)` from a seeded
 * generator (mulberry32), so a model is reproducible from its options.
 */
export function denseNetworkWeights(options: DenseNetworkOnnxOptions): DenseNetworkWeights {
  if (!Number.isInteger(options.inputSize) || options.inputSize < 1) {
    throw new RangeError('inputSize must be a positive integer');
  }
  for (const width of options.hidden) {
    if (!Number.isInteger(width) || width < 1)
      throw new RangeError('hidden widths must be positive');
  }
  const random = mulberry32(options.seed ?? 1);
  const widths = [options.inputSize, ...options.hidden, 1];
  const layers: { w: Float32Array; b: Float32Array }[] = [];
  const shapes: [number, number][] = [];
  for (let l = 0; l + 1 < widths.length; l++) {
    const fanIn = widths[l]!;
    const fanOut = widths[l + 1]!;
    const bound = 1 / Math.sqrt(fanIn);
    const w = new Float32Array(fanIn * fanOut);
    for (let i = 0; i < w.length; i++) w[i] = (random() * 2 - 1) * bound;
    const b = new Float32Array(fanOut);
    for (let i = 0; i < b.length; i++) b[i] = (random() * 2 - 1) * bound;
    layers.push({ w, b });
    shapes.push([fanIn, fanOut]);
  }
  return { layers, shapes };
}

/**
 * Builds a multilayer perceptron (`MatMul` + `Add` + `Relu` per hidden layer, a sigmoid score
 * out) with deterministic weights. Its cost grows with the widths, which makes it the "heavier
 * model" of worker-pool tests and benchmarks.
 */
export function denseNetworkOnnx(options: DenseNetworkOnnxOptions): Uint8Array {
  const { layers, shapes } = denseNetworkWeights(options);
  const input = options.inputName ?? 'features';
  const output = options.outputName ?? 'score';
  const nodes: OnnxNode[] = [];
  const initializers: OnnxTensor[] = [];
  let current = input;
  layers.forEach((layer, l) => {
    const [fanIn, fanOut] = shapes[l]!;
    initializers.push(
      { name: `W${l}`, type: 'float32', dims: [fanIn, fanOut], values: Array.from(layer.w) },
      { name: `B${l}`, type: 'float32', dims: [fanOut], values: Array.from(layer.b) },
    );
    nodes.push(
      { op: 'MatMul', inputs: [current, `W${l}`], outputs: [`m${l}`] },
      { op: 'Add', inputs: [`m${l}`, `B${l}`], outputs: [`a${l}`] },
    );
    const last = l === layers.length - 1;
    nodes.push({
      op: last ? 'Sigmoid' : 'Relu',
      inputs: [`a${l}`],
      outputs: [last ? output : `h${l}`],
    });
    current = `h${l}`;
  });
  return encodeOnnxModel({
    graphName: 'dense_network',
    inputs: [{ name: input, type: 'float32', shape: ['N', options.inputSize] }],
    outputs: [{ name: output, type: 'float32', shape: ['N', 1] }],
    nodes,
    initializers,
  });
}

/** The TypeScript reference of {@link denseNetworkOnnx}: one score per row (float64 math). */
export function predictDenseNetwork(
  weights: DenseNetworkWeights,
  rows: readonly (readonly number[])[],
): number[] {
  return rows.map((row) => {
    let activations: number[] = [...row];
    weights.layers.forEach((layer, l) => {
      const [fanIn, fanOut] = weights.shapes[l]!;
      const next = new Array<number>(fanOut);
      for (let o = 0; o < fanOut; o++) {
        let sum = layer.b[o]!;
        for (let i = 0; i < fanIn; i++) sum += activations[i]! * layer.w[i * fanOut + o]!;
        next[o] = l === weights.layers.length - 1 ? 1 / (1 + Math.exp(-sum)) : Math.max(0, sum);
      }
      activations = next;
    });
    return activations[0]!;
  });
}

function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
