/** Lambda entry of the dashboard (GET /dashboard, /dashboard/{asset} and /pricing); the stack copies the assets beside the bundle. */
import { join } from 'node:path';
import { createDashboard } from './dashboard.ts';

export const handler = createDashboard(process.env.DASHBOARD_ASSETS_DIR ?? join(__dirname, 'assets'));
