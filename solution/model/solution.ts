/** The whole solution as one value: what `crs solution build` packages. */
import type { SolutionModel } from './types.js';
import { PUBLISHER, SOLUTION_UNIQUE_NAME, customTables, platformTables } from './tables.js';
import { roles } from './roles.js';
import { webResources } from './webresources.js';
import { formAdditions } from './forms.js';

export const SOLUTION_DISPLAY_NAME = 'Campaign Response Sync';

export const solutionModel: SolutionModel = {
  uniqueName: SOLUTION_UNIQUE_NAME,
  displayName: SOLUTION_DISPLAY_NAME,
  description: 'Optimizely Campaign response data (opens, clicks, replies, autoresponders, unsubscribes, opt-in history, outbounces) in Dynamics 365.',
  publisher: { ...PUBLISHER },
  customTables,
  platformTables,
  roles,
  webResources,
  formAdditions,
};
