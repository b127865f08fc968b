/**
 * `GET /admin/eligibility?newsletter=<id>&contact=<id>` (or `lead=<id>`) — the R6 verdict with reasons.
 * Admin API rules: Bearer CRS_ADMIN_TOKEN (checked here too, so the route is safe wherever it is
 * registered); unset token = route absent. 400 bad parameters, 404 unknown newsletter, 503 when
 * Dataverse cannot be read.
 */
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import type { DataverseClient } from '../dataverse/types.js';
import { bearerAuthenticator } from '../http/auth.js';
import { NotFoundError, parseEligibilityRequest, readEligibility } from './eligibility.js';

export interface EligibilityRouteDeps {
  /** Dataverse reads (query/retrieve). */
  dataverse?: Pick<DataverseClient, 'query' | 'retrieve'>;
  /** Without `dataverse`: settings to create a client from on first use (closed with the app). */
  dataverseSettings?: Config['dataverse'];
  /** CRS_ADMIN_TOKEN; unset = the route is not registered (admin API off). */
  adminToken?: string;
  /** Why there is no Dataverse client (e.g. "demo mode without Dataverse emulator"). */
  unavailableReason?: string;
}

export const ELIGIBILITY_PATH = '/admin/eligibility';

export function registerEligibilityRoute(app: FastifyInstance, deps: EligibilityRouteDeps): void {
  if (!deps.adminToken) return;
  const authorized = bearerAuthenticator(deps.adminToken);
  let dataverse = deps.dataverse;
  let owned: { close(): Promise<void> } | undefined;
  const settings = deps.dataverseSettings;
  const reader = async (): Promise<Pick<DataverseClient, 'query' | 'retrieve'> | undefined> => {
    if (dataverse || !settings?.url) return dataverse;
    const { createDataverseClient } = await import('../dataverse/index.js');
    const client = createDataverseClient({ dataverse: settings });
    owned = client;
    dataverse = client;
    return client;
  };
  app.addHook('onClose', async () => {
    await owned?.close();
  });
  app.get(ELIGIBILITY_PATH, async (req, reply) => {
    if (!authorized(req.headers.authorization)) {
      return reply.code(401).header('www-authenticate', 'Bearer realm="crs-admin"').send({ error: 'admin token required (Authorization: Bearer …)' });
    }
    let request;
    try {
      request = parseEligibilityRequest(req.query as Record<string, string | undefined>);
    } catch (err) {
      return reply.code(400).send({ error: (err as Error).message });
    }
    try {
      const dv = await reader();
      if (!dv) return reply.code(503).send({ error: deps.unavailableReason ?? 'Dataverse is not configured (CRS_DATAVERSE_URL)' });
      return await readEligibility(dv, request);
    } catch (err) {
      if (err instanceof NotFoundError) return reply.code(404).send({ error: err.message });
      req.log.warn({ err }, 'eligibility: Dataverse read failed');
      return reply.code(503).send({ error: `Dataverse read failed: ${(err as Error).message.replace(/\s+/g, ' ').slice(0, 200)}` });
    }
  });
}
