import express, {
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from 'express';
import { type AuthConfig, type AuthTarget, authenticate } from '../auth/auth.js';
import { httpErrorOf, ServingError } from '../errors/errors.js';
import { ModelRegistry } from '../models/registry.js';
import { oipRouter } from '../oip/router.js';
import { checkMiddlewareOptions, type MiddlewareOptions, predictorPart } from './options.js';
import { createPredictor, type PredictOptions, type Predictor } from './predictor.js';

/** The Express router of `middleware()`, with the predictor behind it. */
export type TandemRouter = Router & {
  /** The predictor the routes call (metrics, prediction log, breaker, canaries, ...). */
  readonly predictor: Predictor;
};

/**
 * The embeddable model server: `app.use('/ml', middleware({ store, models }))` adds
 * - `POST /models/:name/predict` (and `/models/:name/versions/:version/predict` to pin a
 *   version): entity keys and request data in (a JSON object, validated by the model's feature
 *   service), `{ id, prediction, model, fallback?, features? }` out; `?features=true` adds the
 *   feature vector with each value's status and freshness;
 * - the Open Inference Protocol v2 routes (`GET /v2/health/live`, `/v2/health/ready`, `GET /v2`,
 *   `GET /v2/models/:name[/versions/:v][/ready]`, `POST .../infer`) when `models` is a
 *   `ModelRegistry` and `oip` is not false; the auth hook and the concurrency limit apply to them;
 * - `GET /metrics` (Prometheus) unless `metricsEndpoint: false`.
 * Errors answer `{ error, code, issues? }` with the status of `HTTP_STATUS`; 429 and 503 carry
 * `Retry-After`. Requests to other paths fall through to the host app. Options are checked
 * here, not on the first request.
 * @throws {ServingError} `INVALID_OPTIONS` naming the offending options.
 * @example
 * app.use('/ml', middleware({ store, models, fallback: { prediction: { score: 0 } } }));
 */
export function middleware(options: MiddlewareOptions): TandemRouter {
  checkMiddlewareOptions(options);
  const predictor = createPredictor(predictorPart(options));
  const router = express.Router();
  const bodyLimit = options.bodyLimit ?? '64kb';
  const json = express.json({ limit: bodyLimit, type: ['application/json', 'application/*+json'] });
  const limitBytes = bytesOf(bodyLimit);

  const predict = async (
    req: Request,
    res: Response,
    next: NextFunction,
    name: string,
    version: string | undefined,
  ): Promise<void> => {
    try {
      // Without an auth config there is nothing to wait for (no target, no extra await).
      const principal =
        options.auth === undefined
          ? undefined
          : await authenticate(
              options.auth,
              req,
              version === undefined
                ? { model: name, action: 'predict' }
                : { model: name, version, action: 'predict' },
            );
      const body = bodyOf(req);
      // No per-request AbortSignal (costly on this path): the deadline bounds abandoned requests.
      // Express parses `req.query` on each read: a URL without a query string has no flag.
      const predictOptions: { -readonly [K in keyof PredictOptions]: PredictOptions[K] } = {
        features: req.url.includes('?') && flag(req.query.features),
      };
      if (version !== undefined) predictOptions.version = version;
      if (principal !== undefined) predictOptions.principal = principal;
      sendJson(res, await predictor.predict(name, body, predictOptions));
    } catch (error) {
      next(error);
    }
  };
  const predictRoute: RequestHandler = (req, res, next) =>
    predict(
      req,
      res,
      next,
      String(req.params.name),
      req.params.version === undefined ? undefined : String(req.params.version),
    );

  router.post('/models/:name/predict', json, predictRoute);
  router.post('/models/:name/versions/:version/predict', json, predictRoute);

  // The predict routes in their canonical spelling are matched before the router's layers (one
  // split of the path instead of the router's dispatch); any other spelling (a trailing slash,
  // other letter case, escaped characters) goes through the routes above.
  type Handle = (req: Request, res: Response, done: NextFunction) => void;
  const routed = router as unknown as { handle: Handle };
  const handleRouted = routed.handle.bind(router);
  const answerError = errorHandler();
  const fastHandle = (req: Request, res: Response, done: NextFunction): void => {
    const route = req.method === 'POST' ? predictRouteOf(req.url) : undefined;
    if (route === undefined) {
      handleRouted(req, res, done);
      return;
    }
    req.params =
      route.version === undefined
        ? { name: route.name }
        : { name: route.name, version: route.version };
    const fail = (error: unknown) => answerError(error, req, res, done);
    const parsed = (error?: unknown) => {
      if (error !== undefined && error !== null) fail(error);
      else void predict(req, res, fail, route.name, route.version);
    };
    if (isPlainJsonBody(req, limitBytes)) readPlainJson(req, parsed);
    else json(req, res, parsed);
  };
  routed.handle = fastHandle;

  if (options.oip !== false && options.models instanceof ModelRegistry) {
    const limiter = predictor.limiter;
    if (limiter !== undefined) {
      // Tensor-level inference shares the concurrency limit (and its 429/503) with predictions.
      const slot: RequestHandler = async (_req, res, next) => {
        try {
          const free = limiter.tryAcquire();
          if (free !== undefined) {
            res.once('close', free);
            next();
            return;
          }
          const controller = new AbortController();
          const onClose = () => controller.abort();
          res.once('close', onClose);
          const release = await limiter.acquire(controller.signal);
          res.removeListener('close', onClose);
          if (res.closed) {
            release();
            return;
          }
          res.once('close', release);
          next();
        } catch (error) {
          next(error);
        }
      };
      router.post('/v2/models/:name/infer', slot);
      router.post('/v2/models/:name/versions/:version/infer', slot);
    }
    const auth = options.auth;
    router.use(
      oipRouter({
        registry: options.models,
        ...(auth === undefined
          ? {}
          : {
              authorize: async (req, target) => {
                await authenticate(auth, req, {
                  model: target.model,
                  ...(target.version === undefined ? {} : { version: target.version }),
                  action: target.action === 'infer' ? 'infer' : 'metadata',
                });
              },
            }),
      }),
    );
  }

  if (options.metricsEndpoint !== false) {
    router.get('/metrics', async (_req, res, next) => {
      try {
        const registry = predictor.metrics.registry;
        res.set('Content-Type', registry.contentType).send(await registry.metrics());
      } catch (error) {
        next(error);
      }
    });
  }

  router.use(errorHandler());
  return Object.assign(router, { predictor });
}

/**
 * An Express error handler answering anything thrown as `{ error, code, issues? }` with the
 * status of its code (`HTTP_STATUS`) and `Retry-After` when the error carries one.
 */
export function errorHandler() {
  return (error: unknown, _req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const answer = httpErrorOf(error);
    res.status(answer.status).set(answer.headers).json(answer.body);
  };
}

/**
 * An Express handler that runs the auth hook of the model named by `req.params.name` (for routes
 * mounted next to the middleware, such as the Open Inference Protocol's).
 */
export function authGuard(
  config: AuthConfig | undefined,
  action: (req: Request) => AuthTarget['action'],
): RequestHandler {
  return async (req, _res, next) => {
    if (config === undefined) {
      next();
      return;
    }
    try {
      const name = req.params.name;
      if (typeof name !== 'string') {
        next();
        return;
      }
      const version = typeof req.params.version === 'string' ? req.params.version : undefined;
      await authenticate(
        config,
        req,
        version === undefined
          ? { model: name, action: action(req) }
          : { model: name, version, action: action(req) },
      );
      next();
    } catch (error) {
      next(error);
    }
  };
}

function bodyOf(req: Request): unknown {
  if (req.body === undefined) {
    const type = req.headers['content-type'];
    if (type !== undefined && !/json/i.test(type)) {
      throw new ServingError(
        'UNSUPPORTED_MEDIA_TYPE',
        `the request body must be application/json, not ${type}`,
      );
    }
    throw new ServingError('INVALID_REQUEST', 'the request needs a JSON body', {
      issues: ['(root)'],
    });
  }
  return req.body;
}

/**
 * The model name and version of a predict path in its canonical spelling
 * (`/models/:name/predict`, `/models/:name/versions/:version/predict`, any query string), or
 * undefined for anything else.
 */
function predictRouteOf(url: string): { name: string; version: string | undefined } | undefined {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  if (!path.startsWith('/models/') || !path.endsWith('/predict') || path.includes('%')) {
    return undefined;
  }
  const parts = path.split('/');
  if (parts.length === 4 && parts[2] !== '') return { name: parts[2]!, version: undefined };
  if (parts.length === 6 && parts[3] === 'versions' && parts[2] !== '' && parts[4] !== '') {
    return { name: parts[2]!, version: parts[4]! };
  }
  return undefined;
}

/** A body limit (`express.json`'s: bytes, or a number of b, kb or mb) in bytes. */
function bytesOf(limit: number | string): number {
  if (typeof limit === 'number') return limit;
  const match = /^(\d+(?:\.\d+)?)\s*(b|kb|mb)?$/i.exec(limit.trim());
  const unit = match?.[2]?.toLowerCase();
  const scale = unit === 'mb' ? 1024 * 1024 : unit === 'kb' ? 1024 : 1;
  return Math.floor(Number(match?.[1] ?? 0) * scale);
}

/**
 * True for the common body that needs none of `express.json`'s machinery: `application/json`
 * (UTF-8), not compressed, with a length within the limit. Other bodies (chunked, compressed,
 * another charset, empty, too large) go through `express.json`, errors included.
 */
function isPlainJsonBody(req: Request, limitBytes: number): boolean {
  // Already read (the host app parses bodies itself): `express.json` leaves it as it is.
  if (req.body !== undefined || req.readableEnded) return false;
  const headers = req.headers;
  const type = headers['content-type']?.toLowerCase();
  if (type !== 'application/json' && type !== 'application/json; charset=utf-8') return false;
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return false;
  if (headers['transfer-encoding'] !== undefined) return false;
  const length = Number(headers['content-length']);
  return Number.isInteger(length) && length > 0 && length <= limitBytes;
}

/**
 * Reads a plain JSON body (see {@link isPlainJsonBody}) into `req.body`, parsed as `express.json`
 * does (strict: an object or an array); answers `MALFORMED_JSON` otherwise.
 */
function readPlainJson(req: Request, done: (error?: unknown) => void): void {
  const chunks: Buffer[] = [];
  const onData = (chunk: Buffer) => chunks.push(chunk);
  // `on` and `off` rather than `once` (which wraps each listener in a new function).
  const onError = (error: unknown) => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    done(error);
  };
  const onEnd = () => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    const text = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8');
    const first = text.trimStart()[0];
    try {
      if (first !== '{' && first !== '[') throw new SyntaxError('not a JSON object or array');
      req.body = JSON.parse(text);
    } catch (error) {
      done(
        new ServingError('MALFORMED_JSON', 'the request body is not valid JSON', { cause: error }),
      );
      return;
    }
    done();
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
}

/**
 * Answers 200 with `body` as JSON (what `res.json` sends, without an ETag). Node writes the
 * `Content-Length` of a body sent whole by `end`: setting it too would measure the text twice.
 */
function sendJson(res: Response, body: unknown): void {
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.end(JSON.stringify(body));
}

function flag(value: unknown): boolean {
  return value === 'true' || value === '1' || value === '' || value === true;
}
