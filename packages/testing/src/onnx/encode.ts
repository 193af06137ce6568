import { ProtoWriter } from './internal/protobuf.js';

/** Element types of ONNX tensors, named as onnxruntime names them. */
export type OnnxDataType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool'
  | 'string';

/** `TensorProto.DataType` numbers of the ONNX spec. */
export const ONNX_DATA_TYPE: Readonly<Record<OnnxDataType, number>> = Object.freeze({
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  string: 8,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
});

/** One dimension of a declared shape: a size, a symbolic name (`"N"`), or `null` for unknown. */
export type OnnxDim = number | string | null;

/** A graph input or output: name, element type and shape. */
export interface OnnxValueInfo {
  /** Value name. */
  readonly name: string;
  /** Element type. */
  readonly type: OnnxDataType;
  /** Shape; symbolic names (`"N"`) or `null` make a dimension dynamic. */
  readonly shape: readonly OnnxDim[];
}

/** A constant tensor (an initializer or a tensor attribute). */
export interface OnnxTensor {
  /** Tensor name (initializers are referenced by it). */
  readonly name: string;
  /** Element type. */
  readonly type: OnnxDataType;
  /** Dimensions; `[]` for a scalar. */
  readonly dims: readonly number[];
  /** Values in row-major order (numbers, bigints for 64-bit integers, booleans or strings). */
  readonly values: readonly (number | bigint | boolean | string)[];
}

/** A node attribute value, tagged by kind. */
export type OnnxAttribute =
  | { readonly int: number | bigint }
  | { readonly float: number }
  | { readonly string: string }
  | { readonly ints: readonly (number | bigint)[] }
  | { readonly floats: readonly number[] }
  | { readonly tensor: OnnxTensor };

/** One operator application. */
export interface OnnxNode {
  /** Operator type (`MatMul`, `Add`, `Sigmoid`, ...). */
  readonly op: string;
  /** Input value names (`""` for an omitted optional input). */
  readonly inputs: readonly string[];
  /** Output value names. */
  readonly outputs: readonly string[];
  /** Node name; defaults to `<op>_<index>`. */
  readonly name?: string;
  /** Operator domain; `""` (the default ONNX domain) when absent. */
  readonly domain?: string;
  /** Attributes by name. */
  readonly attributes?: Readonly<Record<string, OnnxAttribute>>;
}

/** A whole single-graph model. */
export interface OnnxModelSpec {
  /** Graph inputs. */
  readonly inputs: readonly OnnxValueInfo[];
  /** Graph outputs. */
  readonly outputs: readonly OnnxValueInfo[];
  /** Nodes in topological order. */
  readonly nodes: readonly OnnxNode[];
  /** Constant tensors. */
  readonly initializers?: readonly OnnxTensor[];
  /** Graph name; default `"tandem"`. */
  readonly graphName?: string;
  /** Default-domain opset version; default 13. */
  readonly opset?: number;
  /** `ModelProto.ir_version`; default 8. */
  readonly irVersion?: number;
  /** `producer_name`; default `"tandem-testing"`. */
  readonly producer?: string;
  /** Model documentation string. */
  readonly docString?: string;
  /** `metadata_props` key-value pairs. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Default-domain opset used by the builders. */
export const DEFAULT_OPSET = 13;
/** `ModelProto.ir_version` used by the builders (IR v8 covers opsets up to 18). */
export const DEFAULT_IR_VERSION = 8;

/**
 * Encodes an ONNX `ModelProto` (protobuf) by hand, with no dependency. Initializers are written as
 * little-endian `raw_data` (strings as `string_data`).
 * @example
 * const bytes = encodeOnnxModel({
 *   inputs: [{ name: 'x', type: 'float32', shape: ['N', 2] }],
 *   outputs: [{ name: 'y', type: 'float32', shape: ['N', 2] }],
 *   nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
 * });
 */
export function encodeOnnxModel(spec: OnnxModelSpec): Uint8Array {
  const writer = new ProtoWriter();
  writer.varint(1, spec.irVersion ?? DEFAULT_IR_VERSION); // ir_version
  writer.string(2, spec.producer ?? 'tandem-testing'); // producer_name
  writer.string(3, '0.1.0'); // producer_version
  if (spec.docString !== undefined) writer.string(6, spec.docString); // doc_string
  writer.message(7, (graph) => writeGraph(graph, spec)); // graph
  writer.message(8, (opset) => {
    opset.string(1, ''); // domain
    opset.varint(2, spec.opset ?? DEFAULT_OPSET); // version
  });
  for (const [key, value] of Object.entries(spec.metadata ?? {})) {
    writer.message(14, (entry) => entry.string(1, key).string(2, value)); // metadata_props
  }
  return writer.finish();
}

function writeGraph(graph: ProtoWriter, spec: OnnxModelSpec): void {
  spec.nodes.forEach((node, index) => {
    graph.message(1, (w) => writeNode(w, node, index));
  });
  graph.string(2, spec.graphName ?? 'tandem');
  for (const tensor of spec.initializers ?? []) graph.message(5, (w) => writeTensor(w, tensor));
  for (const input of spec.inputs) graph.message(11, (w) => writeValueInfo(w, input));
  for (const output of spec.outputs) graph.message(12, (w) => writeValueInfo(w, output));
}

function writeNode(w: ProtoWriter, node: OnnxNode, index: number): void {
  for (const input of node.inputs) w.string(1, input);
  for (const output of node.outputs) w.string(2, output);
  w.string(3, node.name ?? `${node.op}_${index}`);
  w.string(4, node.op);
  for (const [name, value] of Object.entries(node.attributes ?? {})) {
    w.message(5, (a) => writeAttribute(a, name, value));
  }
  if (node.domain !== undefined && node.domain !== '') w.string(7, node.domain);
}

// AttributeProto.AttributeType
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_TENSOR = 4;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;

function writeAttribute(a: ProtoWriter, name: string, value: OnnxAttribute): void {
  a.string(1, name);
  if ('float' in value) a.float(2, value.float).varint(20, ATTR_FLOAT);
  else if ('int' in value) a.varint(3, value.int).varint(20, ATTR_INT);
  else if ('string' in value) a.string(4, value.string).varint(20, ATTR_STRING);
  else if ('tensor' in value)
    a.message(5, (t) => writeTensor(t, value.tensor)).varint(20, ATTR_TENSOR);
  else if ('floats' in value) a.packedFloats(7, value.floats).varint(20, ATTR_FLOATS);
  else a.packedVarints(8, value.ints).varint(20, ATTR_INTS);
}

function writeValueInfo(w: ProtoWriter, info: OnnxValueInfo): void {
  w.string(1, info.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.varint(1, ONNX_DATA_TYPE[info.type]); // elem_type
      tensor.message(2, (shape) => {
        for (const dim of info.shape) {
          shape.message(1, (d) => {
            if (typeof dim === 'number')
              d.varint(1, dim); // dim_value
            else if (typeof dim === 'string') d.string(2, dim); // dim_param
          });
        }
      });
    }),
  );
}

function writeTensor(w: ProtoWriter, tensor: OnnxTensor): void {
  const count = tensor.dims.reduce((a, b) => a * b, 1);
  if (count !== tensor.values.length) {
    throw new RangeError(
      `tensor ${tensor.name} has dims [${tensor.dims.join(', ')}] (${count} elements) but ${tensor.values.length} values`,
    );
  }
  if (tensor.dims.length > 0) w.packedVarints(1, tensor.dims); // dims
  w.varint(2, ONNX_DATA_TYPE[tensor.type]); // data_type
  w.string(8, tensor.name); // name
  if (tensor.type === 'string') {
    for (const value of tensor.values) w.string(6, String(value)); // string_data
  } else {
    w.bytes(9, rawData(tensor)); // raw_data
  }
}

function rawData(tensor: OnnxTensor): Uint8Array {
  const { type, values } = tensor;
  const number = (v: number | bigint | boolean | string) => Number(v);
  const big = (v: number | bigint | boolean | string) =>
    typeof v === 'bigint' ? v : BigInt(typeof v === 'boolean' ? Number(v) : v);
  let array: ArrayBufferView;
  switch (type) {
    case 'float32':
      array = Float32Array.from(values, number);
      break;
    case 'float64':
      array = Float64Array.from(values, number);
      break;
    case 'int8':
      array = Int8Array.from(values, number);
      break;
    case 'int16':
      array = Int16Array.from(values, number);
      break;
    case 'int32':
      array = Int32Array.from(values, number);
      break;
    case 'int64':
      array = BigInt64Array.from(values, big);
      break;
    case 'uint8':
    case 'bool':
      array = Uint8Array.from(values, number);
      break;
    case 'uint16':
      array = Uint16Array.from(values, number);
      break;
    case 'uint32':
      array = Uint32Array.from(values, number);
      break;
    case 'uint64':
      array = BigUint64Array.from(values, big);
      break;
    case 'float16':
      throw new RangeError('float16 initializers are not supported by the test encoder');
    case 'string':
      throw new RangeError('string tensors use string_data');
  }
  // Typed arrays are little-endian on every platform Node runs on.
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}
