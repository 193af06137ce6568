import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import type { FeatureService } from '@tandem/core';
import { MicroBatcher } from '../batching/batcher.js';
import {
  type EncodedRow,
  encodeRow,
  type FeatureVector,
  rowBatchRunner,
} from '../batching/rows.js';
import { ServingError } from '../errors/errors.js';
import { bindFeatureInput, type FeatureInputBinding } from './binding.js';
import { isModelLoadError, ModelLoadError, type ModelLoadFailure } from './errors.js';
import { onnxRuntime } from './onnx-runtime.js';
import {
  type ModelRuntime,
  type ModelRuntimeFactory,
  messageOf,
  type SessionOptions,
} from './runtime.js';
import { type ModelSignature, type Tensor, zeroTensor } from './tensor.js';
import { workerPoolRuntime } from './worker-pool.js';

/** Where a model runs: in the calling thread, in a `worker_threads` pool, or a custom runtime. */
export type RuntimeChoice = 'in-thread' | 'worker-pool' | ModelRuntimeFactory;

/** Micro-batching of row predictions (see `MicroBatcher`). */
export interface BatchingOptions {
  /** Largest batch; default 64 (1 for models with a fixed batch dimension of 1). */
  readonly maxBatchSize?: number;
  /** Longest a row waits for others, in ms; default 0 (same event-loop turn only). */
  readonly maxDelayMs?: number;
}

/** Warmup inferences run before a model version is installed. */
export interface WarmupOptions {
  /** Inferences; default 2. The first one's duration is the cold start. */
  readonly runs?: number;
  /** Rows per warmup inference (dynamic dimensions take this size); default 1. */
  readonly batchSize?: number;
  /** Feeds to use instead of zero tensors (for models that need meaningful inputs). */
  readonly feeds?: Readonly<Record<string, Tensor>>;
}

/** One model version to load. Give exactly one of `path` and `bytes`. */
export interface ModelSpec {
  /** Model name (letters, digits, `_`, `.`, `-`; URL-safe). */
  readonly name: string;
  /** Version label (same characters); OIP addresses it as `/versions/:version`. */
  readonly version: string;
  /** Path of an `.onnx` file. */
  readonly path?: string;
  /** The ONNX bytes. */
  readonly bytes?: Uint8Array;
  /** Expected sha256 of the artifact (hex, optionally `sha256:`-prefixed); checked before load. */
  readonly sha256?: string;
  /** Where it runs; default `'in-thread'` (or the registry's default). */
  readonly runtime?: RuntimeChoice;
  /** Pool size for `'worker-pool'`. */
  readonly workers?: number;
  /** onnxruntime session options. */
  readonly session?: SessionOptions;
  /** The feature service whose layout feeds the model; its inputs are checked against it. */
  readonly service?: FeatureService;
  /** The `[N, F]` input fed with feature rows, when the model has several inputs. */
  readonly inputName?: string;
  /** Micro-batching of `predict`; `false` runs every row alone. */
  readonly batching?: BatchingOptions | false;
  /** Warmup before the version is served; `false` skips it. */
  readonly warmup?: WarmupOptions | false;
  /** Make this version the default one of its model; default true. */
  readonly makeDefault?: boolean;
  /** Free-form labels (training run, owner, ...), shown in OIP metadata as parameters. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Options of a {@link ModelRegistry}. */
export interface ModelRegistryOptions {
  /** Defaults for every {@link ModelSpec}. */
  readonly defaults?: Pick<ModelSpec, 'runtime' | 'workers' | 'session' | 'batching' | 'warmup'>;
  /** Refuse specs without `sha256`; default false (the digest is always computed and recorded). */
  readonly requireSha256?: boolean;
  /** A first event listener (same as calling `on`). */
  readonly onEvent?: ModelEventListener;
}

/** What is known about one loaded model version. */
export interface ModelInfo {
  /** Model name. */
  readonly name: string;
  /** Version label. */
  readonly version: string;
  /** True when it is the version served when none is asked for. */
  readonly isDefault: boolean;
  /** sha256 of the artifact (hex). */
  readonly sha256: string;
  /** Artifact size in bytes. */
  readonly sizeBytes: number;
  /** Runtime kind (`onnxruntime`, `onnxruntime-workers`, ...). */
  readonly runtime: string;
  /** Inputs and outputs. */
  readonly signature: ModelSignature;
  /** How feature rows feed it (undefined: tensor-level inference only). */
  readonly binding: FeatureInputBinding | undefined;
  /** The feature service it was checked against. */
  readonly service: FeatureService | undefined;
  /** Labels given at load. */
  readonly metadata: Readonly<Record<string, string>>;
  /** When it started serving (epoch ms). */
  readonly loadedAt: number;
  /** Read + checksum + session creation + input check, in ms. */
  readonly loadMs: number;
  /** All warmup inferences, in ms. */
  readonly warmupMs: number;
  /** The first inference, in ms (0 without warmup). */
  readonly coldStartMs: number;
}

/** Events of a registry, for telemetry (the metrics module subscribes with `on`). */
export type ModelEvent =
  | { readonly type: 'load_started'; readonly name: string; readonly version: string }
  | {
      readonly type: 'loaded';
      readonly name: string;
      readonly version: string;
      readonly info: ModelInfo;
      /** A version with the same label was replaced (hot swap). */
      readonly replaced: boolean;
    }
  | {
      readonly type: 'load_failed';
      readonly name: string;
      readonly version: string;
      readonly reason: ModelLoadFailure;
      readonly error: ModelLoadError;
    }
  | {
      readonly type: 'default_changed';
      readonly name: string;
      readonly version: string | undefined;
      readonly previous: string | undefined;
    }
  | {
      /** Taken out of service; it finishes its in-flight work before `closed`. */
      readonly type: 'retired';
      readonly name: string;
      readonly version: string;
      readonly reason: 'replaced' | 'unloaded' | 'closed';
      readonly inFlight: number;
    }
  | {
      /** Drained and freed. */
      readonly type: 'closed';
      readonly name: string;
      readonly version: string;
      readonly drainMs: number;
    }
  | {
      /** One micro-batch of `predict` rows ran. */
      readonly type: 'batch';
      readonly name: string;
      readonly version: string;
      readonly size: number;
      readonly queueMs: readonly number[];
      readonly runMs: number;
      readonly ok: boolean;
    }
  | {
      /** One tensor-level inference (`infer`, OIP) ran. */
      readonly type: 'inference';
      readonly name: string;
      readonly version: string;
      readonly ms: number;
      readonly ok: boolean;
    };

/** A registry event listener. */
export type ModelEventListener = (event: ModelEvent) => void;

/** The result of a prediction or an inference. */
export interface ModelResult {
  /** Output tensors by name (per row for `predict`: the batch dimension removed). */
  readonly outputs: Record<string, Tensor>;
  /** Which model version answered. */
  readonly model: { readonly name: string; readonly version: string };
}

/**
 * A hold on one model version: while a lease is held the version is not freed, even if it is
 * replaced or unloaded meanwhile (that is how a hot swap fails no in-flight request). Release it
 * when done; `release` is idempotent.
 */
export interface ModelLease {
  /** The version held. */
  readonly info: ModelInfo;
  /** Tensor-level inference (no batching). */
  run(
    feeds: Readonly<Record<string, Tensor>>,
    outputs?: readonly string[],
  ): Promise<Record<string, Tensor>>;
  /** One row of feature values through the micro-batcher; outputs per row. */
  predict(row: FeatureVector): Promise<Record<string, Tensor>>;
  /** Gives the hold back. */
  release(): void;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const SHA256 = /^(?:sha256:)?([0-9a-fA-F]{64})$/;

/**
 * Holds every loaded model version of a process. Loading reads the artifact (file or bytes),
 * checks its sha256 before anything else, creates the runtime, checks the inputs against the
 * feature service, warms up, and only then installs the version: a refused artifact never
 * replaces what serves. Several models and versions live side by side; replacing a version (or
 * the default) is atomic for new requests, and the old one is closed once its in-flight requests
 * finish.
 * @example
 * const registry = new ModelRegistry();
 * await registry.load({ name: 'fraud', version: '1', path: 'fraud.onnx', sha256, service });
 * const { outputs } = await registry.predict('fraud', [3, 120.5, 0.2]);
 */
export class ModelRegistry {
  private readonly models = new Map<string, Map<string, Entry>>();
  private readonly defaults = new Map<string, string>();
  private readonly expected = new Set<string>();
  private readonly loading = new Map<string, number>();
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly listeners = new Set<ModelEventListener>();
  private readonly closing: Promise<void>[] = [];
  private closed = false;

  constructor(private readonly options: ModelRegistryOptions = {}) {
    if (options.onEvent !== undefined) this.listeners.add(options.onEvent);
  }

  /** Subscribes to registry events; returns the unsubscribe function. */
  on(listener: ModelEventListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /**
   * Loads one model version and installs it (see the class description). Rejects with
   * {@link ModelLoadError} when the artifact is refused; what served before keeps serving.
   * Loads of the same name and version run one after the other.
   */
  load(spec: ModelSpec): Promise<ModelInfo> {
    try {
      this.checkSpec(spec);
    } catch (error) {
      return Promise.reject(error);
    }
    const key = `${spec.name}\u0000${spec.version}`;
    this.expected.add(spec.name);
    this.loading.set(spec.name, (this.loading.get(spec.name) ?? 0) + 1);
    const previous = this.chains.get(key) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.loadNow(spec));
    const tail = run.finally(() => {
      const count = (this.loading.get(spec.name) ?? 1) - 1;
      if (count === 0) this.loading.delete(spec.name);
      else this.loading.set(spec.name, count);
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    this.chains.set(key, tail);
    return tail;
  }

  /** Makes `version` the default of `name` (served when no version is asked for). */
  setDefault(name: string, version: string): void {
    const entry = this.models.get(name)?.get(version);
    if (entry === undefined) throw this.missing(name, version);
    const previous = this.defaults.get(name);
    if (previous === version) return;
    this.defaults.set(name, version);
    this.emit({ type: 'default_changed', name, version, previous });
  }

  /**
   * Takes a version (or, without `version`, every version) of a model out of service; resolves
   * when its in-flight work has finished and it is freed.
   */
  async unload(name: string, version?: string): Promise<void> {
    const versions = this.models.get(name);
    if (versions === undefined && version === undefined && this.expected.has(name)) {
      // A model whose loads all failed: forget it, so it no longer holds readiness back.
      if (!this.loading.has(name)) this.expected.delete(name);
      return;
    }
    if (versions === undefined || (version !== undefined && !versions.has(version))) {
      throw this.missing(name, version);
    }
    const targets = version === undefined ? [...versions.values()] : [versions.get(version)!];
    for (const entry of targets) versions.delete(entry.info.version);
    if (versions.size === 0) {
      this.models.delete(name);
      if (this.loading.get(name) === undefined) this.expected.delete(name);
    }
    this.fixDefault(name);
    await Promise.all(targets.map((entry) => this.retire(entry, 'unloaded')));
  }

  /** The info of a version, or of the default version; undefined when not loaded. */
  get(name: string, version?: string): ModelInfo | undefined {
    const entry = this.entry(name, version);
    return entry === undefined ? undefined : this.infoOf(entry);
  }

  /** Every loaded version, models in load order. */
  list(): ModelInfo[] {
    return [...this.models.values()].flatMap((versions) =>
      [...versions.values()].map((entry) => this.infoOf(entry)),
    );
  }

  /** Loaded versions of a model, in load order (empty when unknown). */
  versions(name: string): string[] {
    return [...(this.models.get(name)?.keys() ?? [])];
  }

  /** The default version of a model. */
  defaultVersion(name: string): string | undefined {
    return this.defaults.get(name);
  }

  /** True while a load of `name` is in progress. */
  isLoading(name: string): boolean {
    return this.loading.has(name);
  }

  /** True when the model (and version) can serve now. */
  isModelReady(name: string, version?: string): boolean {
    return !this.closed && this.entry(name, version) !== undefined;
  }

  /**
   * Server readiness: not closed, and every model whose load was asked for has a default version
   * serving (a model still loading, or whose only load failed, makes the server not ready).
   */
  isReady(): boolean {
    if (this.closed) return false;
    for (const name of this.expected) if (!this.defaults.has(name)) return false;
    return true;
  }

  /**
   * Holds a version (default when `version` is omitted) so it stays alive until `release()`.
   * Throws `UNKNOWN_MODEL`, `UNKNOWN_VERSION`, or `MODEL_NOT_READY` while a first load runs.
   */
  acquire(name: string, version?: string): ModelLease {
    const entry = this.entry(name, version);
    if (entry === undefined) throw this.missing(name, version);
    entry.hold();
    let released = false;
    const info = this.infoOf(entry);
    return {
      info,
      run: (feeds, outputs) => (released ? leaseReleased() : this.runEntry(entry, feeds, outputs)),
      predict: (row) => (released ? leaseReleased() : entry.predict(row)),
      release: () => {
        if (released) return;
        released = true;
        entry.unhold();
      },
    };
  }

  /** Tensor-level inference on a version (default when omitted). */
  async infer(
    name: string,
    feeds: Readonly<Record<string, Tensor>>,
    options: { readonly version?: string; readonly outputs?: readonly string[] } = {},
  ): Promise<ModelResult> {
    const lease = this.acquire(name, options.version);
    try {
      const outputs = await lease.run(feeds, options.outputs);
      return { outputs, model: { name, version: lease.info.version } };
    } finally {
      lease.release();
    }
  }

  /** One row of feature values (in the service's layout order) through the micro-batcher. */
  async predict(
    name: string,
    row: FeatureVector,
    options: { readonly version?: string } = {},
  ): Promise<ModelResult> {
    const lease = this.acquire(name, options.version);
    try {
      const outputs = await lease.predict(row);
      return { outputs, model: { name, version: lease.info.version } };
    } finally {
      lease.release();
    }
  }

  /** Unloads everything; resolves when every version has drained and been freed. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      const entries = [...this.models.values()].flatMap((versions) => [...versions.values()]);
      this.models.clear();
      this.defaults.clear();
      this.expected.clear();
      this.closing.push(...entries.map((entry) => this.retire(entry, 'closed')));
    }
    await Promise.allSettled([...this.chains.values()]);
    await Promise.all(this.closing);
  }

  private async loadNow(spec: ModelSpec): Promise<ModelInfo> {
    const { name, version } = spec;
    const defaults = this.options.defaults ?? {};
    const refuse = (reason: ModelLoadFailure, message: string, cause?: unknown): never => {
      throw new ModelLoadError(reason, name, version, message, { cause });
    };
    this.emit({ type: 'load_started', name, version });
    let runtime: ModelRuntime | undefined;
    try {
      if (this.closed) refuse('closed', 'the registry is closed');
      const started = performance.now();
      let bytes: Uint8Array;
      if (spec.bytes !== undefined) bytes = spec.bytes;
      else {
        try {
          bytes = await readFile(spec.path!);
        } catch (error) {
          return refuse('read_failed', `cannot read ${spec.path}: ${messageOf(error)}`, error);
        }
      }
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const expected = spec.sha256 === undefined ? undefined : SHA256.exec(spec.sha256)![1]!;
      if (expected !== undefined && expected.toLowerCase() !== sha256) {
        const serving = this.defaults.get(name);
        refuse(
          'checksum_mismatch',
          `sha256 mismatch: expected ${expected.toLowerCase()}, the artifact has ${sha256}; it was not loaded${serving === undefined ? '' : ` (version ${serving} keeps serving)`}`,
        );
      }
      runtime = this.createRuntime(spec.runtime ?? defaults.runtime, {
        workers: spec.workers ?? defaults.workers,
        session: spec.session ?? defaults.session,
      });
      let signature: ModelSignature;
      try {
        signature = await runtime.load(bytes);
      } catch (error) {
        return refuse('invalid_model', messageOf(error), error);
      }
      const binding = bindFeatureInput(signature, {
        model: name,
        version,
        service: spec.service,
        inputName: spec.inputName,
      });
      const loadMs = performance.now() - started;
      const warmup = spec.warmup ?? defaults.warmup ?? {};
      let warmupMs = 0;
      let coldStartMs = 0;
      if (warmup !== false) {
        const feeds = warmup.feeds ?? warmupFeeds(signature, warmup.batchSize ?? 1);
        const runs = warmup.runs ?? 2;
        const warmStart = performance.now();
        for (let i = 0; i < runs; i++) {
          const t = performance.now();
          try {
            await runtime.run(feeds);
          } catch (error) {
            return refuse('warmup_failed', `warmup inference failed: ${messageOf(error)}`, error);
          }
          if (i === 0) coldStartMs = performance.now() - t;
        }
        warmupMs = performance.now() - warmStart;
      }
      if (this.closed) refuse('closed', 'the registry was closed while loading');
      const info: Omit<ModelInfo, 'isDefault'> = Object.freeze({
        name,
        version,
        sha256,
        sizeBytes: bytes.byteLength,
        runtime: runtime.kind,
        signature,
        binding,
        service: spec.service,
        metadata: Object.freeze({ ...(spec.metadata ?? {}) }),
        loadedAt: Date.now(),
        loadMs,
        warmupMs,
        coldStartMs,
      });
      const batching = spec.batching ?? defaults.batching ?? {};
      const entry = new Entry(info, runtime, batching, (event) => this.emit(event));
      runtime = undefined;
      const versions = this.models.get(name) ?? new Map<string, Entry>();
      this.models.set(name, versions);
      const replaced = versions.get(version);
      // Re-inserting moves the version to the end: load order is "most recent last".
      versions.delete(version);
      versions.set(version, entry);
      const previousDefault = this.defaults.get(name);
      if ((spec.makeDefault ?? true) || previousDefault === undefined) {
        this.defaults.set(name, version);
        if (previousDefault !== version) {
          this.emit({ type: 'default_changed', name, version, previous: previousDefault });
        }
      }
      this.emit({ type: 'loaded', name, version, info: this.infoOf(entry), replaced: !!replaced });
      if (replaced !== undefined) void this.retire(replaced, 'replaced');
      return this.infoOf(entry);
    } catch (error) {
      if (runtime !== undefined) await runtime.close().catch(() => undefined);
      const refused = isModelLoadError(error)
        ? error
        : new ModelLoadError('invalid_model', name, version, messageOf(error), { cause: error });
      this.emit({ type: 'load_failed', name, version, reason: refused.reason, error: refused });
      throw refused;
    }
  }

  private checkSpec(spec: ModelSpec): void {
    const bad = (message: string): never => {
      throw new ServingError('INVALID_OPTIONS', message);
    };
    if (typeof spec?.name !== 'string' || !NAME.test(spec.name)) {
      bad(`model name ${JSON.stringify(spec?.name)} must match ${NAME.source}`);
    }
    if (typeof spec.version !== 'string' || !NAME.test(spec.version)) {
      bad(`model version ${JSON.stringify(spec.version)} must match ${NAME.source}`);
    }
    if ((spec.path === undefined) === (spec.bytes === undefined)) {
      bad(`model ${spec.name} version ${spec.version}: give exactly one of path and bytes`);
    }
    if (spec.sha256 !== undefined && !SHA256.test(spec.sha256)) {
      bad(`model ${spec.name} version ${spec.version}: sha256 must be 64 hex digits`);
    }
    if (spec.sha256 === undefined && this.options.requireSha256 === true) {
      bad(`model ${spec.name} version ${spec.version}: a sha256 is required`);
    }
    if (this.closed) throw new ServingError('UNAVAILABLE', 'the model registry is closed');
  }

  private createRuntime(
    choice: RuntimeChoice | undefined,
    options: { workers: number | undefined; session: SessionOptions | undefined },
  ): ModelRuntime {
    const session = options.session === undefined ? {} : { session: options.session };
    if (choice === undefined || choice === 'in-thread') return onnxRuntime(session);
    if (choice === 'worker-pool') {
      return workerPoolRuntime({
        ...session,
        ...(options.workers === undefined ? {} : { workers: options.workers }),
      });
    }
    return choice();
  }

  private entry(name: string, version?: string): Entry | undefined {
    const v = version ?? this.defaults.get(name);
    return v === undefined ? undefined : this.models.get(name)?.get(v);
  }

  private missing(name: string, version?: string): ServingError {
    if (this.closed) return new ServingError('UNAVAILABLE', 'the model registry is closed');
    const versions = this.models.get(name);
    if (versions === undefined || versions.size === 0) {
      if (this.loading.has(name)) {
        return new ServingError('MODEL_NOT_READY', `model ${name} is loading`, {
          retryAfterSeconds: 1,
        });
      }
      return new ServingError('UNKNOWN_MODEL', `unknown model ${name}`);
    }
    if (version === undefined) {
      return new ServingError('MODEL_NOT_READY', `model ${name} has no default version`);
    }
    if (this.loading.has(name)) {
      return new ServingError('MODEL_NOT_READY', `model ${name} version ${version} is not ready`, {
        retryAfterSeconds: 1,
      });
    }
    return new ServingError(
      'UNKNOWN_VERSION',
      `model ${name} has no version ${version} (loaded: ${[...versions.keys()].join(', ')})`,
    );
  }

  private fixDefault(name: string): void {
    const current = this.defaults.get(name);
    const versions = this.models.get(name);
    if (current !== undefined && versions?.has(current)) return;
    const latest = versions === undefined ? undefined : [...versions.keys()].at(-1);
    if (latest === undefined) this.defaults.delete(name);
    else this.defaults.set(name, latest);
    if (latest !== current) {
      this.emit({ type: 'default_changed', name, version: latest, previous: current });
    }
  }

  private async runEntry(
    entry: Entry,
    feeds: Readonly<Record<string, Tensor>>,
    outputs: readonly string[] | undefined,
  ): Promise<Record<string, Tensor>> {
    const started = performance.now();
    let ok = false;
    try {
      const result = await entry.runtime.run(feeds, outputs);
      ok = true;
      return result;
    } finally {
      this.emit({
        type: 'inference',
        name: entry.info.name,
        version: entry.info.version,
        ms: performance.now() - started,
        ok,
      });
    }
  }

  private retire(entry: Entry, reason: 'replaced' | 'unloaded' | 'closed'): Promise<void> {
    const { name, version } = entry.info;
    this.emit({ type: 'retired', name, version, reason, inFlight: entry.inFlight });
    const started = performance.now();
    return entry.retire().then(() => {
      this.emit({ type: 'closed', name, version, drainMs: performance.now() - started });
    });
  }

  private infoOf(entry: Entry): ModelInfo {
    const { name, version } = entry.info;
    return entry.described(
      this.defaults.get(name) === version && this.models.get(name)?.get(version) === entry,
    );
  }

  private emit(event: ModelEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // Telemetry must never break loading or serving.
      }
    }
  }
}

/** One installed version: its runtime, batcher and reference count. */
class Entry {
  private holds = 0;
  private retired = false;
  private finished: Promise<void> | undefined;
  private resolveFinished: (() => void) | undefined;
  private asDefault: ModelInfo | undefined;
  private asOther: ModelInfo | undefined;
  private readonly batcher: MicroBatcher<EncodedRow, Record<string, Tensor>> | undefined;
  private readonly runRows:
    | ((rows: readonly EncodedRow[]) => Promise<Record<string, Tensor>[]>)
    | undefined;

  constructor(
    readonly info: Omit<ModelInfo, 'isDefault'>,
    readonly runtime: ModelRuntime,
    batching: BatchingOptions | false,
    emit: (event: ModelEvent) => void,
  ) {
    const binding = info.binding;
    if (binding === undefined) return;
    this.runRows = rowBatchRunner({
      run: (feeds, outputs) => runtime.run(feeds, outputs),
      inputName: binding.inputName,
      type: binding.type,
      width: binding.width,
    });
    if (batching === false) return;
    const limit = binding.maxBatchSize ?? Number.POSITIVE_INFINITY;
    this.batcher = new MicroBatcher({
      maxBatchSize: Math.min(batching.maxBatchSize ?? 64, limit),
      maxDelayMs: batching.maxDelayMs ?? 0,
      maxConcurrency: runtime.concurrency,
      run: this.runRows,
      onBatch: (batch) => emit({ type: 'batch', name: info.name, version: info.version, ...batch }),
    });
  }

  get inFlight(): number {
    return this.holds;
  }

  /** Its info with `isDefault` (made once for each value: every request's lease carries it). */
  described(isDefault: boolean): ModelInfo {
    if (isDefault) {
      this.asDefault ??= { ...this.info, isDefault };
      return this.asDefault;
    }
    this.asOther ??= { ...this.info, isDefault };
    return this.asOther;
  }

  hold(): void {
    this.holds++;
  }

  unhold(): void {
    this.holds--;
    if (this.retired && this.holds === 0) this.finish();
  }

  // Not `async`: returning the batcher's promise from an async function would add two
  // microtask turns to every prediction. Errors still come back as rejections.
  predict(row: FeatureVector): Promise<Record<string, Tensor>> {
    const binding = this.info.binding;
    const runRows = this.runRows;
    if (binding === undefined || runRows === undefined) {
      return Promise.reject(
        new ServingError(
          'INVALID_REQUEST',
          `model ${this.info.name} version ${this.info.version} takes no feature rows (it has no single [N, F] numeric input); use tensor inference`,
        ),
      );
    }
    let encoded: EncodedRow;
    try {
      encoded = encodeRow(binding.type, binding.width, row, binding.columns);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.batcher !== undefined) return this.batcher.submit(encoded);
    return runRows([encoded]).then((results) => results[0]!);
  }

  retire(): Promise<void> {
    if (this.finished === undefined) {
      this.finished = new Promise((resolve) => {
        this.resolveFinished = resolve;
      });
      this.retired = true;
      if (this.holds === 0) this.finish();
    }
    return this.finished;
  }

  private finish(): void {
    const resolve = this.resolveFinished;
    if (resolve === undefined) return;
    this.resolveFinished = undefined;
    void (async () => {
      try {
        await this.batcher?.close();
        await this.runtime.close();
      } catch {
        // Freeing a drained session has no one left to report to.
      }
      resolve();
    })();
  }
}

/** What a released lease answers. */
function leaseReleased(): Promise<never> {
  return Promise.reject(new ServingError('MODEL_NOT_READY', 'the model lease was released'));
}

function warmupFeeds(signature: ModelSignature, batchSize: number): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const input of signature.inputs) {
    feeds[input.name] = zeroTensor(
      input.type,
      input.shape.map((dim) => (dim === -1 ? batchSize : dim)),
    );
  }
  return feeds;
}
