import type { Migration } from './index.js';

/** Values every process must agree on (the CSRF secret), and markers such as "seeded". */
export const settings: Migration = {
  version: 2,
  name: 'settings',
  up: ['CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)'],
};
