/**
 * What the reconciliation reads from Dataverse: the Campaign clients (crs_campaignclient rows) and
 * the campaign-management mailings created in the last 30 days (crs_campaignmailing rows) — R11.
 * Table and column names come from the schema model.
 */
import { campaignClient, campaignMailing } from '../../solution/model/index.js';
import type { DataverseClient } from '../dataverse/types.js';

export interface PolledMailing {
  clientId: string;
  mailingId: string;
}

export interface CampaignDirectory {
  /** Campaign client ids (crs_campaignclient.crs_clientid). */
  clients(): Promise<string[]>;
  /** Campaign-management mailings created at or after `since`. */
  recentMailings(since: Date): Promise<PolledMailing[]>;
}

/** System column every Dataverse table has (not part of the shipped model). */
const CREATED_ON = 'createdon';

const lookupValue = (column: string) => `_${column}_value`;

/** OData query string; the $filter value is percent-encoded. */
export function odataQuery(select: readonly string[], filter?: string): string {
  return `$select=${select.join(',')}${filter ? `&$filter=${encodeURIComponent(filter)}` : ''}`;
}

export function dataverseDirectory(dataverse: Pick<DataverseClient, 'query'>): CampaignDirectory {
  const clientKey = campaignClient.primaryIdAttribute;
  const clientLookup = lookupValue('crs_campaignclientid');

  async function clientRows(): Promise<Map<string, string>> {
    const rows = await dataverse.query(campaignClient.entitySetName, odataQuery([clientKey, 'crs_clientid']));
    const byGuid = new Map<string, string>();
    for (const r of rows) {
      const id = typeof r.crs_clientid === 'string' ? r.crs_clientid.trim() : '';
      if (/^\d+$/.test(id) && typeof r[clientKey] === 'string') byGuid.set((r[clientKey] as string).toLowerCase(), id);
    }
    return byGuid;
  }

  return {
    async clients() {
      return [...new Set((await clientRows()).values())].sort();
    },
    async recentMailings(since: Date) {
      const clients = await clientRows();
      const rows = await dataverse.query(
        campaignMailing.entitySetName,
        odataQuery(['crs_mailingid', clientLookup, CREATED_ON], `${CREATED_ON} ge ${since.toISOString().replace(/\.\d{3}Z$/, 'Z')}`),
      );
      const out: PolledMailing[] = [];
      const seen = new Set<string>();
      for (const r of rows) {
        const mailingId = typeof r.crs_mailingid === 'string' ? r.crs_mailingid.trim() : '';
        const clientId = typeof r[clientLookup] === 'string' ? clients.get((r[clientLookup] as string).toLowerCase()) : undefined;
        if (!clientId || !/^\d+$/.test(mailingId) || seen.has(`${clientId}/${mailingId}`)) continue;
        seen.add(`${clientId}/${mailingId}`);
        out.push({ clientId, mailingId });
      }
      return out;
    },
  };
}
