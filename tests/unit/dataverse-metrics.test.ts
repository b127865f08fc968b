import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../service/metrics.js';
import { promDataverseMetrics } from '../../service/dataverse/index.js';

async function value(metrics: ReturnType<typeof createMetrics>, name: string): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(' ').at(-1)) : Number.NaN;
}

describe('promDataverseMetrics', () => {
  it('exports throttling waits and pacing waits as separate counters', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const sink = promDataverseMetrics(metrics);
    sink.throttleWait(1500);
    sink.budgetWait?.(250);
    sink.budgetWait?.(750);
    expect(await value(metrics, 'crs_dataverse_throttling_waits_total')).toBe(1);
    expect(await value(metrics, 'crs_dataverse_throttling_wait_seconds_total')).toBe(1.5);
    expect(await value(metrics, 'crs_dataverse_pacing_wait_seconds_total')).toBe(1);
  });

  it('counts requests by status, network failures as error', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const sink = promDataverseMetrics(metrics);
    sink.request('batch', 200);
    sink.request('batch', 'network');
    const text = await metrics.registry.metrics();
    expect(text).toContain('crs_dataverse_requests_total{status="200"} 1');
    expect(text).toContain('crs_dataverse_requests_total{status="error"} 1');
  });
});
