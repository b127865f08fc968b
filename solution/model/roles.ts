/**
 * Security roles the solution ships (spec §3). Privilege names are derived in the packager
 * (prv<Verb><EntitySchemaName>; activities share the "Activity" privileges).
 */
import type { RoleDef, RoleGrant } from './types.js';
import { customTables } from './tables.js';

// Organization-owned tables only know the Global (organization) depth.
const customRead: RoleGrant[] = customTables.map((t) => ({ table: t.logicalName, verbs: ['Read'], depth: 'Global' }));
const customWrite: RoleGrant[] = customTables.map((t) => ({
  table: t.logicalName,
  verbs: ['Create', 'Read', 'Write', 'Append', 'AppendTo'],
  depth: 'Global',
}));

export const READER_ROLE: RoleDef = {
  key: 'reader',
  name: 'Campaign Response Sync Reader',
  description: 'Read Campaign Response Sync tables and campaign responses (for marketers using the Contact and Lead panels).',
  // Read on campaign responses is Read on all activities (one privilege set for every activity
  // type); organization depth, because the responses are owned by the service's application user.
  grants: [...customRead, { table: 'campaignresponse', verbs: ['Read'], depth: 'Global' }],
};

export const SERVICE_ROLE: RoleDef = {
  key: 'service',
  name: 'Campaign Response Sync Service',
  description: 'For the application user of the Campaign Response Sync service.',
  grants: [
    ...customWrite,
    // Campaign responses share the Activity privileges with every activity type (emails, calls …).
    // The service owns the responses it creates, so user depth is enough and keeps it away from
    // all other activities.
    { table: 'campaignresponse', verbs: ['Create', 'Read', 'Write', 'Append', 'AppendTo'], depth: 'Basic' },
    // AppendTo is what lets the service point a lookup (consent → contact/lead, response → campaign,
    // activity party → contact/lead) at these rows; Read alone is not enough to link them.
    { table: 'contact', verbs: ['Read', 'AppendTo'], depth: 'Global' },
    { table: 'lead', verbs: ['Read', 'AppendTo'], depth: 'Global' },
    { table: 'campaign', verbs: ['Read', 'AppendTo'], depth: 'Global' },
  ],
};

export const roles: readonly RoleDef[] = [READER_ROLE, SERVICE_ROLE];
