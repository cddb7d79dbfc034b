/**
 * The dashboard's HTTP app (Hono): the page and its assets, the JSON each panel reads, and the
 * actions. Every route is behind the door (guard.ts); tests call it with `app.request()`.
 * @module
 */
import { Hono } from 'hono';
import type { CommandContext } from '../commands.ts';
import { doctor } from '../doctor.ts';
import { isAppError } from '../../shared/errors.ts';
import { deliveryStatus } from '../../shared/deliveries.ts';
import { getProfile } from '../../shared/sync.ts';
import { isUuid } from '../../shared/uuid.ts';
import { ActionBusy, createActions } from './actions.ts';
import type { ActionKind } from './actions.ts';
import { loadAssets } from './assets.ts';
import type { DoorKeys } from './guard.ts';
import { door, hardenHeaders } from './guard.ts';
import { createMeasurer } from './measure.ts';
import type { Measurer } from './measure.ts';
import { deliveryHours, deliveryInstalled, failureGroups, history, mappingInForce, runs, WINDOW } from './queries.ts';

export type DashboardDeps = {
  ctx: CommandContext;
  keys: DoorKeys;
  /** The port the server listens on (the Host and Origin it accepts). */
  port: number;
  /** The state now (status's numbers); the server starts one measuring as it starts. */
  measurer?: Measurer;
};

const ACTIONS: readonly ActionKind[] = ['dry-run', 'reconcile', 'replay'];

export function createDashboardApp(deps: DashboardDeps) {
  const { sql } = deps.ctx;
  const assets = loadAssets(deps.keys.csrf);
  const actions = createActions(deps.ctx);
  const measurer = deps.measurer ?? createMeasurer(sql);
  const app = new Hono();
  app.use('*', hardenHeaders, door(deps.keys, deps.port));

  app.get('/', (c) => c.html(assets.page));
  for (const [path, asset] of Object.entries(assets.files)) {
    app.get(`/assets/${path}`, (c) => c.body(asset.body, 200, { 'content-type': asset.type }));
  }

  // What the page shows at once: the mapping, the actions, and the last measurement of the state
  // now from memory (`computed_at` says when; only before the first has ended does it wait for it).
  app.get('/api/state', async (c) => {
    const [status, mapping] = await Promise.all([measurer.latest() ?? measurer.measure(), mappingInForce(sql)]);
    return c.json({ status, mapping, actions: Object.fromEntries(ACTIONS.map((k) => [k, actions.available(k)])) });
  });
  // The state now, measured as `profile-sync status --json` measures it (the page asks once its
  // quick panels are filled).
  app.get('/api/status', async (c) => c.json({ status: await measurer.measure() }));
  app.get('/api/doctor', async (c) => {
    const asked = Date.now();
    return c.json(await doctor(sql, { status: () => measurer.measure(asked) }));
  });
  app.get('/api/history', async (c) => c.json({ days: WINDOW.chartDays, runs: await history(sql, WINDOW.chartDays) }));
  app.get('/api/runs', async (c) => {
    const before = c.req.query('before');
    if (before !== undefined && !/^\d{1,18}$/.test(before)) return c.json({ error: { code: 'invalid_query', message: 'before: a run id' } }, 400);
    return c.json({ runs: await runs(sql, before === undefined ? null : Number(before), WINDOW.runsPage) });
  });
  app.get('/api/failures', async (c) => c.json({ groups: await failureGroups(sql) }));
  app.get('/api/deliveries', async (c) => {
    if (!(await deliveryInstalled(sql))) return c.json({ installed: false });
    // the queue's counts as status reports them (`deliveries`), without measuring drift
    const [counts, hours] = await Promise.all([deliveryStatus(sql), deliveryHours(sql, WINDOW.deliveryHours)]);
    return c.json({ installed: true, counts, hours });
  });
  // One user's row, only when the operator asks for it (the rest of the page shows ids only).
  app.get('/api/users/:id', async (c) => {
    const id = c.req.param('id');
    if (!isUuid(id)) return c.json({ error: { code: 'invalid_user_id', message: 'not a user id' } }, 400);
    const [profile, [failure]] = await Promise.all([
      getProfile(sql, id),
      sql`select source, error_code, constraint_name, error_message, attempts, first_seen, last_seen
          from profile_sync.failures where user_id = ${id}`,
    ]);
    return c.json({ user_id: id, profile: profile ?? null, failure: failure ?? null });
  });

  app.post('/api/actions/:kind', (c) => {
    const kind = c.req.param('kind') as ActionKind;
    if (!ACTIONS.includes(kind)) return c.json({ error: { code: 'not_found', message: 'no such action' } }, 404);
    if (!actions.available(kind)) {
      return c.json({ error: { code: 'not_installed', message: 'durable delivery is not installed in this database' } }, 409);
    }
    try {
      return c.json(actions.start(kind), 202);
    } catch (err) {
      if (!(err instanceof ActionBusy)) throw err;
      return c.json({ error: { code: 'action_running', message: `${err.running.kind} is still running` }, job: err.running }, 409);
    }
  });
  app.get('/api/actions/:id', (c) => {
    const job = actions.get(c.req.param('id'));
    return job ? c.json(job) : c.json({ error: { code: 'not_found', message: 'no such action' } }, 404);
  });

  app.notFound((c) => c.json({ error: { code: 'not_found', message: 'No such route.' } }, 404));
  app.onError((err, c) => {
    console.error(`profile-sync dashboard: ${c.req.method} ${c.req.path}: ${err instanceof Error ? err.message : String(err)}`);
    // the operator's own page: the message says what went wrong (a database down is a 503)
    const status = isAppError(err) && err.status === 503 ? 503 : 500;
    return c.json({ error: { code: isAppError(err) ? err.code : 'error', message: err instanceof Error ? err.message : 'internal error' } }, status);
  });
  return app;
}
