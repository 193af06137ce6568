import { entity, eventSource, featureService } from '@tandem/core';
import {
  encodeOnnxModel,
  logisticRegressionOnnx,
  type OnnxDataType,
  predictLogisticRegression,
} from '@tandem/testing';
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { ServingError } from '../errors/errors.js';
import { onnxRuntime } from '../models/onnx-runtime.js';
import { ModelRegistry } from '../models/registry.js';
import { fromHalf, toHalf } from './datatypes.js';
import { oipRouter } from './router.js';

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const transactions = eventSource({
  name: 'transactions',
  entity: user,
  fields: { amount: 'float', is_refund: 'bool' },
});
const fraud = featureService('fraud_v1', [
  transactions.count().window('7d').as('tx_count_7d'),
  transactions.sum('amount').window('7d').as('tx_sum_7d'),
  transactions
    .count()
    .where((t) => t.is_refund)
    .window('30d')
    .as('refunds_30d'),
]);

const V1 = { weights: [0.2, 0.01, 1.5], bias: -2 };
const V2 = { weights: [-0.1, 0.02, 0.5], bias: 0.5 };
const BYTES_V1 = logisticRegressionOnnx({ ...V1, outputs: ['probability', 'label'] });
const BYTES_V2 = logisticRegressionOnnx({ ...V2, outputs: ['probability', 'label'] });

const ALL_TYPES: readonly [OnnxDataType, string][] = [
  ['bool', 'BOOL'],
  ['uint8', 'UINT8'],
  ['uint16', 'UINT16'],
  ['uint32', 'UINT32'],
  ['uint64', 'UINT64'],
  ['int8', 'INT8'],
  ['int16', 'INT16'],
  ['int32', 'INT32'],
  ['int64', 'INT64'],
  ['float16', 'FP16'],
  ['float32', 'FP32'],
  ['float64', 'FP64'],
  ['string', 'BYTES'],
];

/** Identity for every datatype, plus an INT64 constant beyond 2^53. */
const IDENTITY = encodeOnnxModel({
  inputs: ALL_TYPES.map(([type]) => ({ name: `in_${type}`, type, shape: ['N'] })),
  outputs: [
    ...ALL_TYPES.map(([type]) => ({ name: `out_${type}`, type, shape: ['N'] })),
    { name: 'big', type: 'int64' as const, shape: [2] },
  ],
  nodes: [
    ...ALL_TYPES.map(([type]) => ({
      op: 'Identity',
      inputs: [`in_${type}`],
      outputs: [`out_${type}`],
    })),
    { op: 'Identity', inputs: ['big_const'], outputs: ['big'] },
  ],
  initializers: [
    { name: 'big_const', type: 'int64', dims: [2], values: [2n ** 53n + 1n, -(2n ** 62n)] },
  ],
});

const RESHAPE = encodeOnnxModel({
  inputs: [
    { name: 'x', type: 'float32', shape: ['N'] },
    { name: 'shape', type: 'int64', shape: [2] },
  ],
  outputs: [{ name: 'y', type: 'float32', shape: [null, null] }],
  nodes: [{ op: 'Reshape', inputs: ['x', 'shape'], outputs: ['y'] }],
});

const ROWS = [
  [3, 120.5, 0],
  [0, 0, 2],
];

function features(data: unknown, shape: unknown = [2, 3], datatype = 'FP32') {
  return { inputs: [{ name: 'features', shape, datatype, data }] };
}

describe('oipRouter', () => {
  const registries: ModelRegistry[] = [];
  afterEach(async () => {
    await Promise.all(registries.splice(0).map((registry) => registry.close()));
  });

  async function serve(options: Pick<Parameters<typeof oipRouter>[0], 'authorize'> = {}) {
    const registry = new ModelRegistry();
    registries.push(registry);
    await registry.load({ name: 'fraud', version: '1', bytes: BYTES_V1, service: fraud });
    await registry.load({
      name: 'fraud',
      version: '2',
      bytes: BYTES_V2,
      service: fraud,
      makeDefault: false,
      runtime: 'worker-pool',
      workers: 1,
    });
    const app = express();
    app.use('/ml', oipRouter({ registry, bodyLimit: 4096, ...options }));
    return { app, registry };
  }

  it('answers health and server metadata', async () => {
    const { app } = await serve();
    await request(app).get('/ml/v2/health/live').expect(200, { live: true });
    await request(app).get('/ml/v2/health/ready').expect(200, { ready: true });
    const meta = await request(app).get('/ml/v2').expect(200);
    expect(meta.headers['content-type']).toMatch(/application\/json/);
    expect(meta.body).toEqual({ name: 'tandem', version: '0.1.0', extensions: [] });
  });

  it('describes models with OIP datatypes, -1 for dynamic dims, and every version', async () => {
    const { app, registry } = await serve();
    const res = await request(app).get('/ml/v2/models/fraud').expect(200);
    expect(res.body).toMatchObject({
      name: 'fraud',
      versions: ['1', '2'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 3] }],
      outputs: [
        { name: 'probability', datatype: 'FP32', shape: [-1, 1] },
        { name: 'label', datatype: 'INT64', shape: [-1, 1] },
      ],
      parameters: {
        version: '1',
        sha256: registry.get('fraud', '1')!.sha256,
        runtime: 'onnxruntime',
        feature_service: 'fraud_v1',
        features: 'tx_count_7d,tx_sum_7d,refunds_30d',
      },
    });
    const v2 = await request(app).get('/ml/v2/models/fraud/versions/2').expect(200);
    expect(v2.body.parameters).toMatchObject({ version: '2', runtime: 'onnxruntime-workers' });
    const unknown = await request(app).get('/ml/v2/models/nope').expect(404);
    expect(unknown.body).toEqual({ error: 'unknown model nope', code: 'UNKNOWN_MODEL' });
    const noVersion = await request(app).get('/ml/v2/models/fraud/versions/9').expect(404);
    expect(noVersion.body.code).toBe('UNKNOWN_VERSION');
  });

  it('tells model readiness: 200, 404 for unknown, 503 while loading', async () => {
    const { app, registry } = await serve();
    await request(app).get('/ml/v2/models/fraud/ready').expect(200, { name: 'fraud', ready: true });
    await request(app)
      .get('/ml/v2/models/fraud/versions/2/ready')
      .expect(200, { name: 'fraud', ready: true });
    await request(app).get('/ml/v2/models/fraud/versions/9/ready').expect(404);
    await request(app).get('/ml/v2/models/nope/ready').expect(404);
    let open: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const loading = registry.load({
      name: 'late',
      version: '1',
      bytes: BYTES_V1,
      // A runtime whose load waits for the gate: the model stays "loading" until the test opens it.
      runtime: () => {
        const inner = onnxRuntime();
        return {
          kind: inner.kind,
          concurrency: inner.concurrency,
          load: async (bytes) => {
            await gate;
            return inner.load(bytes);
          },
          run: (feeds, outputs) => inner.run(feeds, outputs),
          describe: () => inner.describe(),
          close: () => inner.close(),
        };
      },
    });
    await request(app).get('/ml/v2/models/late/ready').expect(503, { name: 'late', ready: false });
    await request(app).get('/ml/v2/health/ready').expect(503, { ready: false });
    const infer = await request(app)
      .post('/ml/v2/models/late/infer')
      .send(features(ROWS.flat()))
      .expect(503);
    expect(infer.body.code).toBe('MODEL_NOT_READY');
    expect(infer.headers['retry-after']).toBe('1');
    open();
    await loading;
    await request(app).get('/ml/v2/models/late/ready').expect(200);
    await request(app).get('/ml/v2/health/ready').expect(200);
  });

  it('infers with flat or nested data, echoes id, and matches the reference', async () => {
    const { app } = await serve();
    const expected = predictLogisticRegression(V1, ROWS);
    const flat = await request(app)
      .post('/ml/v2/models/fraud/infer')
      .send({ id: 'req-1', ...features(ROWS.flat()) })
      .expect(200);
    expect(flat.body.model_name).toBe('fraud');
    expect(flat.body.model_version).toBe('1');
    expect(flat.body.id).toBe('req-1');
    expect(flat.body.outputs.map((o: { name: string }) => o.name)).toEqual([
      'probability',
      'label',
    ]);
    const [probability, label] = flat.body.outputs;
    expect(probability).toMatchObject({ datatype: 'FP32', shape: [2, 1] });
    probability.data.forEach((p: number, i: number) => {
      expect(p).toBeCloseTo(expected[i]!, 6);
    });
    expect(label).toEqual({
      name: 'label',
      datatype: 'INT64',
      shape: [2, 1],
      data: expected.map((p) => (p > 0.5 ? 1 : 0)),
    });
    const nested = await request(app)
      .post('/ml/v2/models/fraud/infer')
      .send(features(ROWS))
      .expect(200);
    expect(nested.body.outputs).toEqual(flat.body.outputs);
    expect(nested.body.id).toBeUndefined();
  });

  it('returns only the selected outputs, in the requested order, from the addressed version', async () => {
    const { app } = await serve();
    const res = await request(app)
      .post('/ml/v2/models/fraud/versions/2/infer')
      .send({ ...features(ROWS.flat()), outputs: [{ name: 'label' }, { name: 'probability' }] })
      .expect(200);
    expect(res.body.model_version).toBe('2');
    expect(res.body.outputs.map((o: { name: string }) => o.name)).toEqual(['label', 'probability']);
    const expected = predictLogisticRegression(V2, ROWS);
    res.body.outputs[1].data.forEach((p: number, i: number) => {
      expect(p).toBeCloseTo(expected[i]!, 6);
    });
  });

  it('refuses bad requests with 400 and a clear message', async () => {
    const { app } = await serve();
    const cases: [unknown, RegExp, string][] = [
      [
        features(ROWS.flat(), [2, 4]),
        /inputs\.0\.shape: input features has shape \[2, 4\], the model expects \[-1, 3\]/,
        'INVALID_TENSOR',
      ],
      [
        features(ROWS.flat(), [6]),
        /has shape \[6\], the model expects \[-1, 3\]/,
        'INVALID_TENSOR',
      ],
      [
        features(ROWS.flat(), [2, -3]),
        /shape: must be an array of non-negative integers/,
        'INVALID_REQUEST',
      ],
      [
        features(ROWS.flat(), [2, 3], 'FP64'),
        /input features has datatype FP32, not FP64/,
        'INVALID_TENSOR',
      ],
      [features(ROWS.flat(), [2, 3], 'FLOAT'), /unknown datatype FLOAT/, 'INVALID_REQUEST'],
      [features([1, 2, 3, 4, 5], [2, 3]), /has 5 values, shape \[2, 3\] needs 6/, 'INVALID_TENSOR'],
      [
        features(
          [
            [1, 2, 3],
            [4, 5],
          ],
          [2, 3],
        ),
        /nested data does not match shape \[2, 3\]/,
        'INVALID_TENSOR',
      ],
      [
        features([1, 2, 3, 4, 5, '6'], [2, 3]),
        /element 5 is "6", expected a number \(FP32\)/,
        'INVALID_TENSOR',
      ],
      [features([1, 2, 3, 4, 5, null], [2, 3]), /element 5 is null/, 'INVALID_TENSOR'],
      [{ inputs: [] }, /inputs: must be a non-empty array/, 'INVALID_REQUEST'],
      [
        { inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] },
        /unknown input x; the model's inputs are features/,
        'INVALID_REQUEST',
      ],
      [
        { inputs: [features(ROWS.flat()).inputs[0], features(ROWS.flat()).inputs[0]] },
        /input features is given twice/,
        'INVALID_REQUEST',
      ],
      [
        { ...features(ROWS.flat()), outputs: [{ name: 'nope' }] },
        /unknown output nope/,
        'INVALID_REQUEST',
      ],
      [{ ...features(ROWS.flat()), id: 7 }, /id: must be a string/, 'INVALID_REQUEST'],
      [
        { inputs: [{ ...features(ROWS.flat()).inputs[0], parameters: { binary_data_size: 24 } }] },
        /binary tensor extension is not supported/,
        'INVALID_REQUEST',
      ],
      [[1, 2], /the body must be a JSON object/, 'INVALID_REQUEST'],
    ];
    for (const [body, message, code] of cases) {
      const res = await request(app)
        .post('/ml/v2/models/fraud/infer')
        .send(body as object);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toMatch(message);
      expect(res.body.code).toBe(code);
    }
    const withIssues = await request(app)
      .post('/ml/v2/models/fraud/infer')
      .send(features([1, 2, 3, 4, 5, 'x']));
    expect(withIssues.body.issues).toEqual(['inputs.0.data']);
  });

  it('answers malformed JSON with 400, an oversized body with 413, an unknown model with 404', async () => {
    const { app } = await serve();
    const malformed = await request(app)
      .post('/ml/v2/models/fraud/infer')
      .set('content-type', 'application/json')
      .send('{"inputs": [')
      .expect(400);
    expect(malformed.body).toEqual({
      error: 'the request body is not valid JSON',
      code: 'MALFORMED_JSON',
    });
    const big = Array.from({ length: 2000 }, () => 1.25);
    const oversized = await request(app)
      .post('/ml/v2/models/fraud/infer')
      .send(features(big, [big.length / 3, 3]))
      .expect(413);
    expect(oversized.body.code).toBe('PAYLOAD_TOO_LARGE');
    expect(oversized.body.error).toMatch(/exceeds 4096 bytes/);
    const unknown = await request(app)
      .post('/ml/v2/models/nope/infer')
      .send(features(ROWS.flat()))
      .expect(404);
    expect(unknown.body.error).toBe('unknown model nope');
    await request(app)
      .post('/ml/v2/models/fraud/versions/9/infer')
      .send(features(ROWS.flat()))
      .expect(404);
    // No content type: the body is still read as JSON (curl -d sends form encoding).
    await request(app)
      .post('/ml/v2/models/fraud/infer')
      .set('content-type', 'text/plain')
      .send(JSON.stringify(features(ROWS.flat())))
      .expect(200);
    const empty = await request(app).post('/ml/v2/models/fraud/infer').expect(400);
    expect(empty.body.code).toBe('INVALID_REQUEST');
  });

  it('answers a failure inside the model with 500', async () => {
    const { app, registry } = await serve();
    await registry.load({
      name: 'reshape',
      version: '1',
      bytes: RESHAPE,
      warmup: {
        feeds: {
          x: { type: 'float32', dims: [4], data: new Float32Array(4) },
          shape: { type: 'int64', dims: [2], data: BigInt64Array.from([2n, 2n]) },
        },
      },
    });
    const res = await request(app)
      .post('/ml/v2/models/reshape/infer')
      .send({
        inputs: [
          { name: 'x', shape: [6], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] },
          { name: 'shape', shape: [2], datatype: 'INT64', data: [4, 4] },
        ],
      })
      .expect(500);
    expect(res.body.code).toBe('MODEL_FAILED');
    expect(res.body.error).toMatch(/^inference failed: /);
    const ok = await request(app)
      .post('/ml/v2/models/reshape/infer')
      .send({
        inputs: [
          { name: 'x', shape: [6], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] },
          { name: 'shape', shape: [2], datatype: 'INT64', data: [3, 2] },
        ],
      })
      .expect(200);
    expect(ok.body.outputs[0]).toEqual({
      name: 'y',
      datatype: 'FP32',
      shape: [3, 2],
      data: [1, 2, 3, 4, 5, 6],
    });
  });

  it('round-trips every OIP datatype, exact INT64 beyond 2^53 included', async () => {
    const { app, registry } = await serve();
    await registry.load({ name: 'identity', version: '1', bytes: IDENTITY });
    const values: Record<string, unknown[]> = {
      BOOL: [true, false],
      UINT8: [0, 255],
      UINT16: [0, 65535],
      UINT32: [0, 4294967295],
      UINT64: [0, Number.MAX_SAFE_INTEGER],
      INT8: [-128, 127],
      INT16: [-32768, 32767],
      INT32: [-2147483648, 2147483647],
      INT64: [Number.MIN_SAFE_INTEGER, 42],
      FP16: [1.5, -0.000061035156],
      FP32: [0.5, -3.25],
      FP64: [1e-300, Math.PI],
      BYTES: ['héllo', ''],
    };
    const meta = await request(app).get('/ml/v2/models/identity').expect(200);
    expect(meta.body.inputs.map((i: { datatype: string }) => i.datatype)).toEqual(
      ALL_TYPES.map(([, datatype]) => datatype),
    );
    const res = await request(app)
      .post('/ml/v2/models/identity/infer')
      .send({
        inputs: ALL_TYPES.map(([type, datatype]) => ({
          name: `in_${type}`,
          shape: [2],
          datatype,
          data: values[datatype],
        })),
      })
      .expect(200);
    for (const [type, datatype] of ALL_TYPES) {
      const out = res.body.outputs.find((o: { name: string }) => o.name === `out_${type}`);
      expect(out.datatype).toBe(datatype);
      expect(out.shape).toEqual([2]);
      const expected =
        datatype === 'FP16'
          ? values.FP16!.map((v) => fromHalf(toHalf(v as number)))
          : values[datatype];
      expect(out.data, datatype).toEqual(expected);
    }
    expect(res.text).toContain(
      '"name":"big","datatype":"INT64","shape":[2],"data":[9007199254740993,-4611686018427387904]',
    );
    const outOfRange = await request(app)
      .post('/ml/v2/models/identity/infer')
      .send({
        inputs: ALL_TYPES.map(([type, datatype]) => ({
          name: `in_${type}`,
          shape: [2],
          datatype,
          data: datatype === 'INT8' ? [1, 300] : values[datatype],
        })),
      })
      .expect(400);
    expect(outOfRange.body.error).toMatch(
      /element 1 is 300, expected an integer in \[-128, 127\] \(INT8\)/,
    );
    const notBool = await request(app)
      .post('/ml/v2/models/identity/infer')
      .send({
        inputs: ALL_TYPES.map(([type, datatype]) => ({
          name: `in_${type}`,
          shape: [2],
          datatype,
          data: datatype === 'BOOL' ? [1, 0] : values[datatype],
        })),
      })
      .expect(400);
    expect(notBool.body.error).toMatch(/expected true or false \(BOOL\)/);
  });

  it('works behind a host app that already parsed JSON, under concurrent requests', async () => {
    const registry = new ModelRegistry();
    registries.push(registry);
    await registry.load({ name: 'fraud', version: '1', bytes: BYTES_V1, service: fraud });
    const app = express();
    app.use(express.json());
    app.use(oipRouter({ registry }));
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        request(app)
          .post('/v2/models/fraud/infer')
          .send({ id: `r${i}`, ...features([[i, i * 2, 0]], [1, 3]) }),
      ),
    );
    responses.forEach((res, i) => {
      expect(res.status).toBe(200);
      expect(res.body.id).toBe(`r${i}`);
      expect(res.body.outputs[0].data[0]).toBeCloseTo(
        predictLogisticRegression(V1, [[i, i * 2, 0]])[0]!,
        6,
      );
    });
  });

  it('calls the authorization hook per model: 401 and 403', async () => {
    const { app } = await serve({
      authorize: (req, target) => {
        const key = req.get('x-api-key');
        if (key === undefined) throw new ServingError('UNAUTHENTICATED', 'an API key is required');
        if (key !== 'secret' && target.version === '2') {
          throw new ServingError('FORBIDDEN', `key may not use ${target.model} v${target.version}`);
        }
      },
    });
    const anonymous = await request(app).get('/ml/v2/models/fraud').expect(401);
    expect(anonymous.body).toEqual({ error: 'an API key is required', code: 'UNAUTHENTICATED' });
    await request(app).get('/ml/v2/models/fraud').set('x-api-key', 'guest').expect(200);
    await request(app)
      .post('/ml/v2/models/fraud/versions/2/infer')
      .set('x-api-key', 'guest')
      .send(features(ROWS.flat()))
      .expect(403);
    await request(app)
      .post('/ml/v2/models/fraud/versions/2/infer')
      .set('x-api-key', 'secret')
      .send(features(ROWS.flat()))
      .expect(200);
    // Health stays open for probes.
    await request(app).get('/ml/v2/health/ready').expect(200);
  });
});
