import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';
import powerApps from '@microsoft/eslint-plugin-power-apps';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**', 'docs/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Web resources run inside Dynamics forms: browser globals, and every Power Apps checker rule as an error.
    files: ['webresources/src/**/*.ts'],
    languageOptions: { globals: { ...globals.browser, Xrm: 'readonly' } },
    plugins: { '@microsoft/power-apps': powerApps },
    rules: Object.fromEntries(Object.keys(powerApps.rules).map((rule) => [`@microsoft/power-apps/${rule}`, 'error'])),
  },
);
