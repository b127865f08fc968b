export * from './types.js';
export * from './tables.js';
export * from './roles.js';
export * from './webresources.js';
export * from './forms.js';
export * from './solution.js';
