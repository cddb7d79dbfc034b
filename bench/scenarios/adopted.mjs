// Reconcile on an adopted table: shape C of ../shared/reference/adoption-shapes.sql (user_profiles
// with its own primary key, the auth id in a unique user_id, a flag-and-timestamp soft delete),
// every row missing, over real HTTP, against the same work as one plain SQL statement. Its ratio
// stands beside reconcile.missing_rate (the default table's). Runs last: it applies its own
// mapping, and the project is left on it.
import { settle } from '../lib/cluster.mjs';
import { atLeast, done, figure, notAvailable, timed } from '../lib/figures.mjs';
import { NotAvailable } from '../lib/function-process.mjs';
import { reconcileUntilComplete } from './reconcile.mjs';
import { MAPPING_C, SHAPE_C } from '../../tests/helpers/adoption_shapes.mjs';

/** The limit: every row in one statement, the mapping written out by hand (no bookkeeping, no locks). */
const RAW = `
  insert into public.user_profiles (user_id, role, last_login, sso_provider, sso_user_id, is_active, deactivated_at)
  select u.id, coalesce(profile_sync.clean_text(u.raw_app_meta_data -> 'role', 100), 'user'), u.last_sign_in_at,
    profile_sync.clean_text(u.raw_app_meta_data -> 'provider', 50), profile_sync.clean_text(u.raw_user_meta_data -> 'provider_id', 255),
    u.deleted_at is null, u.deleted_at
  from auth.users u
  on conflict (user_id) do nothing`;

export async function adopted(ctx) {
  const { sql } = ctx;
  // every auth user by now (earlier scenarios sign users up too)
  const [{ users }] = await sql`select count(*)::int as users from auth.users`;
  const figures = [];
  // the table with its pasted trigger, which applying the mapping replaces
  await sql.unsafe(SHAPE_C);
  await sql`select profile_sync.apply_mapping(${sql.json(MAPPING_C)})`;
  const raw = [];
  for (let i = 0; i < 2; i++) {
    await sql`truncate public.user_profiles`;
    await settle(sql);
    raw.push((await timed(() => sql.unsafe(RAW))).ms);
  }
  await sql`truncate public.user_profiles`;
  await sql`truncate profile_sync.profile_state`;
  await settle(sql);
  const rawMs = raw.reduce((a, b) => a + b, 0) / raw.length;
  const rawRate = users / (rawMs / 1000);

  let fn;
  try {
    fn = await ctx.startFunction('reconcile', { headers: ctx.adminHeaders });
  } catch (err) {
    if (!(err instanceof NotAvailable)) throw err;
    return notAvailable(err.message, figures);
  }
  try {
    const run = await reconcileUntilComplete(ctx, fn);
    const [{ rows }] = await sql`select count(*)::int as rows from public.user_profiles`;
    if (rows !== users) throw new Error(`reconcile left ${users - rows} of ${users} user_profiles rows missing`);
    figures.push(figure('adopted.missing_rate', 'Reconcile on an adopted user_profiles (shape C), all rows missing (HTTP)', run.created / run.seconds, 'rows/s', {
      limit: rawRate, target: atLeast(0.8, '≥ 0.8× raw SQL', 'ratio'),
      note: `${run.calls} call(s), ${run.seconds.toFixed(1)} s; raw SQL ${(rawMs / 1000).toFixed(1)} s`,
    }));
    return done(figures, { run, rawMs: raw });
  } finally {
    await fn.stop();
  }
}
