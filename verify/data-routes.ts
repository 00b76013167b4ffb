/**
 * The data routes of the gateway's API: the one list, shared by the API (gateway/api/audit.ts
 * checks at start that every entry is a registered, audited read route) and by the verifier (only
 * reads of these routes are evidence of data use). A route is written as the audit records it:
 * `<METHOD> <route pattern>`, e.g. `GET /api/devices/:id/latest`.
 *
 * Data: device lists, latest values, readings and history. Never data use: status, audit,
 * dead letters, pilots, networking rate, health and metrics.
 */
export const DATA_ROUTES = [
  'GET /api/devices',
  'GET /api/devices/:id',
  'GET /api/devices/:id/latest',
  'GET /api/latest',
  'GET /api/devices/:id/tags/:tag/history',
  'GET /api/sparklines',
] as const;

export type DataRoute = (typeof DATA_ROUTES)[number];

const SET: ReadonlySet<string> = new Set(DATA_ROUTES);

/** Whether an audited route (`GET /api/latest`) is a data route. */
export function isDataRoute(route: string): boolean {
  return SET.has(route);
}

/** The route of a device command (an audited write to a device's tag): platform execution. */
export const COMMAND_ROUTE = 'POST /api/devices/:id/tags/:tag';

/**
 * Every audited route of a device command: the API's, and the northbound targets' (a JSON write
 * request, a Sparkplug DCMD: adapters/mqtt/north NORTH_COMMAND_ROUTES), all through the one write path.
 */
export const COMMAND_ROUTES = [COMMAND_ROUTE, 'MQTT write request', 'MQTT DCMD'] as const;

/** Whether an audited write's route is a device command. */
export function isCommandRoute(route: string): boolean {
  return (COMMAND_ROUTES as readonly string[]).includes(route);
}
