import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  Router,
} from 'express';
import { httpErrorOf, ServingError } from '../errors/errors.js';
import type { ModelInfo, ModelRegistry } from '../models/registry.js';
import { decodeInferenceRequest, encodeOutputTensor, stringifyOip } from './codec.js';
import { toOipDatatype } from './datatypes.js';

/** What an OIP request is about, for the authorization hook. */
export interface OipTarget {
  /** Model name. */
  readonly model: string;
  /** Version from the path, if any. */
  readonly version: string | undefined;
  /** The operation. */
  readonly action: 'metadata' | 'ready' | 'infer';
}

/** Options of {@link oipRouter}. */
export interface OipRouterOptions {
  /** The models served. */
  readonly registry: ModelRegistry;
  /** `GET /v2` name; default `"tandem"`. */
  readonly serverName?: string;
  /** `GET /v2` version; default the package version. */
  readonly serverVersion?: string;
  /** `GET /v2` extensions; default none. */
  readonly extensions?: readonly string[];
  /** Largest inference body (bytes or a size like `"1mb"`); default `"1mb"`. 413 beyond. */
  readonly bodyLimit?: number | string;
  /**
   * Per-model authorization, called before model metadata, readiness and inference; throw a
   * `ServingError` (`UNAUTHENTICATED` 401, `FORBIDDEN` 403) to refuse.
   */
  readonly authorize?: (request: Request, target: OipTarget) => void | Promise<void>;
}

/** The platform reported in model metadata (Triton's name for ONNX Runtime models). */
export const OIP_PLATFORM = 'onnxruntime_onnx';

const SERVER_VERSION = '0.1.0';

/**
 * An Express router speaking the Open Inference Protocol v2 (REST), wire-compatible with KServe
 * and Triton clients:
 *
 * - `GET /v2/health/live`, `GET /v2/health/ready` (200, or 503 while a model loads)
 * - `GET /v2` server metadata
 * - `GET /v2/models/:name[/versions/:version]` model metadata (OIP datatypes; -1 for dynamic dims)
 * - `GET /v2/models/:name[/versions/:version]/ready`
 * - `POST /v2/models/:name[/versions/:version]/infer` (JSON tensors, flat or nested data, `id`
 *   echoed, `outputs` selection)
 *
 * Errors are `{"error": "..."}` (plus `code` and `issues`) with 400, 401/403, 404, 413, 503 or
 * 500. The binary tensor extension is not supported (400).
 * @example
 * app.use('/ml', oipRouter({ registry }));
 */
export function oipRouter(options: OipRouterOptions): Router {
  const { registry } = options;
  const router = Router();
  const json = express.json({ limit: options.bodyLimit ?? '1mb', type: () => true });
  const authorize = async (request: Request, target: OipTarget) => {
    if (options.authorize !== undefined) await options.authorize(request, target);
  };

  router.get('/v2/health/live', (_req, res) => {
    send(res, 200, { live: true });
  });

  router.get('/v2/health/ready', (_req, res) => {
    const ready = registry.isReady();
    send(res, ready ? 200 : 503, { ready });
  });

  router.get('/v2', (_req, res) => {
    send(res, 200, {
      name: options.serverName ?? 'tandem',
      version: options.serverVersion ?? SERVER_VERSION,
      extensions: [...(options.extensions ?? [])],
    });
  });

  const metadata: RequestHandler = async (req, res) => {
    const { name, version } = params(req);
    await authorize(req, { model: name, version, action: 'metadata' });
    const info = known(registry, name, version);
    send(res, 200, modelMetadata(registry, info));
  };
  router.get('/v2/models/:name', metadata);
  router.get('/v2/models/:name/versions/:version', metadata);

  const ready: RequestHandler = async (req, res) => {
    const { name, version } = params(req);
    await authorize(req, { model: name, version, action: 'ready' });
    if (registry.isModelReady(name, version)) {
      send(res, 200, { name, ready: true });
      return;
    }
    // Unknown models and versions are 404; known but not (yet) ready is 503.
    if (!registry.isLoading(name)) known(registry, name, version);
    send(res, 503, { name, ready: false });
  };
  router.get('/v2/models/:name/ready', ready);
  router.get('/v2/models/:name/versions/:version/ready', ready);

  const infer: RequestHandler = async (req, res) => {
    const { name, version } = params(req);
    await authorize(req, { model: name, version, action: 'infer' });
    const lease = registry.acquire(name, version);
    try {
      const decoded = decodeInferenceRequest(req.body, lease.info.signature);
      const outputs = await lease.run(decoded.feeds, decoded.outputs);
      const order = decoded.outputs ?? lease.info.signature.outputs.map((o) => o.name);
      const body = {
        model_name: name,
        model_version: lease.info.version,
        ...(decoded.id === undefined ? {} : { id: decoded.id }),
        outputs: order.map((output) => {
          const tensor = outputs[output];
          if (tensor === undefined) {
            throw new ServingError('MODEL_FAILED', `the model returned no output ${output}`);
          }
          return encodeOutputTensor(output, tensor);
        }),
      };
      send(res, 200, body);
    } finally {
      lease.release();
    }
  };
  router.post('/v2/models/:name/infer', json, infer);
  router.post('/v2/models/:name/versions/:version/infer', json, infer);

  router.use('/v2', (error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const answer = httpErrorOf(error);
    for (const [header, value] of Object.entries(answer.headers)) res.setHeader(header, value);
    send(res, answer.status, answer.body);
  });
  return router;
}

/** The OIP model metadata of a loaded version. */
export function modelMetadata(registry: ModelRegistry, info: ModelInfo): Record<string, unknown> {
  const tensor = (spec: ModelInfo['signature']['inputs'][number]) => ({
    name: spec.name,
    datatype: toOipDatatype(spec.type),
    shape: [...spec.shape],
  });
  const parameters: Record<string, string> = {
    version: info.version,
    sha256: info.sha256,
    runtime: info.runtime,
    ...info.metadata,
  };
  if (info.service !== undefined) {
    parameters.feature_service = info.service.name;
    parameters.features = info.service.layout.map((entry) => entry.name).join(',');
  }
  return {
    name: info.name,
    versions: registry.versions(info.name),
    platform: OIP_PLATFORM,
    inputs: info.signature.inputs.map(tensor),
    outputs: info.signature.outputs.map(tensor),
    parameters,
  };
}

function params(req: Request): { name: string; version: string | undefined } {
  const { name, version } = req.params as { name: string; version?: string };
  return { name, version };
}

/** The info of a loaded model version, or the registry's 404/503 error. */
function known(registry: ModelRegistry, name: string, version: string | undefined): ModelInfo {
  const info = registry.get(name, version);
  if (info !== undefined) return info;
  // acquire() raises the precise error (unknown model / version, loading); never returns here.
  registry.acquire(name, version).release();
  throw new ServingError('UNKNOWN_MODEL', `unknown model ${name}`);
}

function send(res: Response, status: number, body: unknown): void {
  res.status(status).type('application/json').send(stringifyOip(body));
}
