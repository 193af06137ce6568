import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createServingMetrics } from './metrics.js';

describe('serving metrics', () => {
  it('records every metric family on a registry the user passes in', async () => {
    const registry = new Registry();
    const metrics = createServingMetrics({ registry });
    expect(createServingMetrics({ registry })).toBe(metrics); // one instance per registry
    const fraud = metrics.model('fraud', '3');
    fraud.request('ok', 0.002);
    fraud.request('ok', 0.004);
    fraud.request('fallback', 0.001);
    fraud.request('error', 0.01, 'DEADLINE_EXCEEDED');
    fraud.batch(8, [0.5, 0.25]);
    metrics.featureFetch('fraud_v1', 0.0008, true);
    metrics.featureFetch('fraud_v1', 0.5, false);
    metrics.featureValue('fraud_v1', 'tx_count_7d', 'present');
    metrics.featureValue('fraud_v1', 'tx_count_7d', 'missing');
    metrics.featureValue('fraud_v1', 'country', 'outside_ttl');
    metrics.modelLoad('fraud', '3', 0.12, 0.002);
    metrics.modelLoadFailure('fraud', 'checksum_mismatch');
    metrics.inference('fraud', '3', 0.001, true);
    metrics.fallback('fraud', 'store_unavailable', 'default');
    metrics.circuit('online-store', 'closed', false);
    metrics.circuit('online-store', 'open');
    metrics.shadow('fraud', '4', 'error');
    metrics.canary('fraud', 0, true);
    metrics.predictionLog('written', 5);
    metrics.trackLoad(() => ({ active: 3, queued: 2 }));
    const text = await registry.metrics();
    for (const line of [
      'tandem_serving_requests_total{model="fraud",version="3",outcome="ok",code=""} 2',
      'tandem_serving_requests_total{model="fraud",version="3",outcome="fallback",code=""} 1',
      'tandem_serving_requests_total{model="fraud",version="3",outcome="error",code="DEADLINE_EXCEEDED"} 1',
      'tandem_serving_request_duration_seconds_count{model="fraud",version="3",outcome="ok"} 2',
      'tandem_serving_batch_size_sum{model="fraud",version="3"} 8',
      'tandem_serving_batch_queue_seconds_count{model="fraud",version="3"} 2',
      'tandem_serving_feature_fetch_duration_seconds_count{service="fraud_v1",result="error"} 1',
      'tandem_serving_feature_values_total{service="fraud_v1",feature="tx_count_7d",status="missing"} 1',
      'tandem_serving_feature_values_total{service="fraud_v1",feature="country",status="outside_ttl"} 1',
      'tandem_serving_model_load_seconds_count{model="fraud",version="3"} 1',
      'tandem_serving_model_cold_start_seconds_count{model="fraud",version="3"} 1',
      'tandem_serving_model_load_failures_total{model="fraud",reason="checksum_mismatch"} 1',
      'tandem_serving_inference_duration_seconds_count{model="fraud",version="3",result="ok"} 1',
      'tandem_serving_fallbacks_total{model="fraud",reason="store_unavailable",kind="default"} 1',
      'tandem_serving_circuit_state{breaker="online-store"} 2',
      'tandem_serving_circuit_transitions_total{breaker="online-store",to="open"} 1',
      'tandem_serving_shadow_requests_total{model="fraud",version="4",outcome="error"} 1',
      'tandem_serving_canary_rollbacks_total{model="fraud"} 1',
      'tandem_serving_canary_percent{model="fraud"} 0',
      'tandem_serving_prediction_logs_total{outcome="written"} 5',
      'tandem_serving_inflight_requests 3',
      'tandem_serving_queued_requests 2',
    ]) {
      expect(text).toContain(line);
    }
    expect(text).not.toContain('to="closed"');
  });

  it('uses a private registry and a custom prefix when asked', async () => {
    const metrics = createServingMetrics({ prefix: 'ml_' });
    metrics.model('m', '1').request('ok', 0.001);
    expect(await metrics.registry.metrics()).toContain(
      'ml_requests_total{model="m",version="1",outcome="ok",code=""} 1',
    );
    expect(createServingMetrics().registry).not.toBe(metrics.registry);
  });
});
