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
import { createPredictor, type Predictor } from './predictor.js';

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
  const json = express.json({
    limit: options.bodyLimit ?? '64kb',
    type: ['application/json', 'application/*+json'],
  });

  const predictRoute: RequestHandler = async (req, res, next) => {
    try {
      const name = String(req.params.name);
      const version = req.params.version === undefined ? undefined : String(req.params.version);
      const target: AuthTarget =
        version === undefined
          ? { model: name, action: 'predict' }
          : { model: name, version, action: 'predict' };
      const principal = await authenticate(options.auth, req, target);
      const body = bodyOf(req);
      // No per-request AbortSignal (costly on this path): the deadline bounds abandoned requests.
      const result = await predictor.predict(name, body, {
        ...(version === undefined ? {} : { version }),
        features: flag(req.query.features),
        ...(principal === undefined ? {} : { principal }),
      });
      res.json(result);
    } catch (error) {
      next(error);
    }
  };

  router.post('/models/:name/predict', json, predictRoute);
  router.post('/models/:name/versions/:version/predict', json, predictRoute);

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

function flag(value: unknown): boolean {
  return value === 'true' || value === '1' || value === '' || value === true;
}
