/**
 * The production entry point: `createDataverseClient(config, { logger, metrics })` builds the
 * HTTP client with the msal token provider (secret or certificate) from service/config.ts.
 */
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { loadClientCertificate, MsalTokenProvider } from './auth.js';
import { HttpDataverseClient, type DataverseLogger, type DataverseMetrics, type HttpDataverseClientOptions } from './client.js';

export { HttpDataverseClient, DataverseAuthError } from './client.js';
export type { DataverseLogger, DataverseMetrics, HttpDataverseClientOptions, RequestKind } from './client.js';
export { MsalTokenProvider, StaticTokenProvider, loadClientCertificate, parseClientCertificate } from './auth.js';
export type { TokenProvider } from './auth.js';

/** Adapts the service's prom-client metrics (service/metrics.ts) to the client's sink. */
export function promDataverseMetrics(metrics: Metrics): DataverseMetrics {
  return {
    request: (_kind, status) => metrics.dataverseRequests.inc({ status: status === 'network' ? 'error' : String(status) }),
    throttled: () => undefined,
    throttleWait: (ms) => {
      metrics.throttlingWaits.inc();
      metrics.throttlingWaitSeconds.inc(ms / 1000);
    },
    budgetWait: (ms) => metrics.pacingWaitSeconds.inc(ms / 1000),
    concurrency: (limit) => metrics.dataverseConcurrency.set(limit),
  };
}

export function createDataverseClient(
  config: Pick<Config, 'dataverse'>,
  deps: { logger?: DataverseLogger; metrics?: Metrics | DataverseMetrics } & Partial<Omit<HttpDataverseClientOptions, 'baseUrl' | 'tokenProvider' | 'logger' | 'metrics'>> = {},
): HttpDataverseClient {
  const { url, tenantId, clientId, clientSecret, clientCertPath, authorityHost, maxConcurrency } = config.dataverse;
  if (!url || !tenantId || !clientId) throw new Error('Dataverse client needs CRS_DATAVERSE_URL, CRS_TENANT_ID and CRS_CLIENT_ID');
  const tokenProvider = new MsalTokenProvider({
    authorityHost,
    tenantId,
    clientId,
    dataverseUrl: url,
    ...(clientCertPath ? { certificate: loadClientCertificate(clientCertPath) } : { clientSecret }),
  });
  const { logger, metrics, ...rest } = deps;
  const sink = metrics && 'registry' in metrics ? promDataverseMetrics(metrics) : metrics;
  return new HttpDataverseClient({ ...rest, baseUrl: url, tokenProvider, maxConcurrency, logger, metrics: sink });
}
