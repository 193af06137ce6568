import { type Attributes, type Span, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';

/** Name of the tracer the serving layer uses (`trace.getTracer(TRACER_NAME)`). */
export const TRACER_NAME = '@tandem/serving';

/** The stages of a prediction, each an OpenTelemetry span under the request's span. */
export type PredictionStage = 'validate' | 'fetch' | 'infer' | 'post-process';

/** The tracer of the serving layer (a no-op until the host app registers an OpenTelemetry SDK). */
export function servingTracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/**
 * Runs `work` inside an active span named `name` (child of the current context's span), records
 * an exception and an error status when it throws, and ends the span.
 */
export async function inSpan<T>(
  tracer: Tracer,
  name: string,
  attributes: Attributes,
  work: (span: Span) => Promise<T> | T,
): Promise<T> {
  return tracer.startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      recordError(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Marks `span` as failed with `error`. */
export function recordError(span: Span, error: unknown): void {
  if (error instanceof Error) span.recordException(error);
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}
