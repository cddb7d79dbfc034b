// Scenario 4: what each way of creating profiles adds to a signup. Single-row auth.users inserts,
// each its own transaction as Auth does them, with no trigger, with our triggers (Vault
// secrets set: each signup queues the user in profile_sync.deliveries and one signed wake-up
// through pg_net), and with the documented in-transaction
// handle_new_user trigger (supabase-facts §9) writing to a table of its own.
import postgres from 'postgres';
import { settle } from '../lib/cluster.mjs';
import { below, done, figure, notAvailable } from '../lib/figures.mjs';
import { median } from '../lib/load.mjs';

const HANDLE_NEW_USER = `
  create schema if not exists bench;
  create table if not exists bench.handle_new_user_profiles (
    id uuid not null references auth.users on delete cascade primary key,
    first_name text,
    last_name text
  );
  create or replace function bench.handle_new_user()
  returns trigger language plpgsql security definer set search_path = '' as $$
  begin
    insert into bench.handle_new_user_profiles (id, first_name, last_name)
    values (new.id, new.raw_user_meta_data ->> 'first_name', new.raw_user_meta_data ->> 'last_name');
    return new;
  end;
  $$;
  drop trigger if exists bench_on_auth_user_created on auth.users;
  create trigger bench_on_auth_user_created after insert on auth.users
    for each row execute procedure bench.handle_new_user();`;

/** Names of our triggers on auth.users (those calling profile_sync.notify_auth_user_change). */
async function ourTriggers(sql) {
  const rows = await sql`
    select t.tgname from pg_trigger t
    where t.tgrelid = 'auth.users'::regclass and not t.tgisinternal
      and t.tgfoid = to_regprocedure('profile_sync.notify_auth_user_change()')`;
  return rows.map((r) => r.tgname);
}

async function setTriggers(sql, names, enabled) {
  for (const name of names) await sql.unsafe(`alter table auth.users ${enabled ? 'enable' : 'disable'} trigger "${name}"`);
}

async function setVaultSecrets(sql, secrets) {
  for (const [name, value] of Object.entries(secrets)) {
    await sql`delete from vault.secrets where name = ${name}`;
    await sql`select vault.create_secret(${value}, ${name})`;
  }
}

export async function signup(ctx) {
  const { sql } = ctx;
  const ours = await ourTriggers(sql);
  await sql.unsafe(HANDLE_NEW_USER);
  await setVaultSecrets(sql, {
    profile_sync_webhook_url: 'http://127.0.0.1:9/functions/v1/auth-webhook', // queued only: no relay runs
    profile_sync_webhook_secret: ctx.webhookSecret,
  });
  const variants = { none: [], handle_new_user: ['bench_on_auth_user_created'] };
  if (ours.length > 0) variants.pg_net = ours;
  const all = Object.values(variants).flat();

  const rounds = ctx.smoke ? 1 : 7;
  const perRound = ctx.scale.signupsPerRound;
  const conn = postgres(ctx.dbUrl, { max: 1, prepare: false, onnotice: () => {} });
  const perVariant = Object.fromEntries(Object.keys(variants).map((v) => [v, []]));
  const perVariantAuth = Object.fromEntries(Object.keys(variants).map((v) => [v, []]));
  try {
    const signupOnce = (n) => conn`
      insert into auth.users (
        instance_id, id, aud, role, email, encrypted_password, raw_app_meta_data, raw_user_meta_data,
        is_anonymous, confirmation_token, recovery_token, created_at, updated_at
      ) values (
        '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
        ${`signup${n}@example.com`}, '$2a$10$abcdefghijklmnopqrstuv',
        '{"provider":"email","providers":["email"]}', ${conn.json({ full_name: `Signup ${n}` })},
        false, '', '', now(), now()
      )`;
    // The database side of a signup as Auth writes it (supabase-facts §1.5): one transaction that
    // inserts the user with an empty role, sets the role, then inserts the identity. (bcrypt and
    // the HTTP work around it are Auth's, outside the database, and not counted.)
    const authSignupOnce = (n) => conn.begin(async (tx) => {
      const email = `signup${n}@example.com`;
      const [{ id }] = await tx`
        insert into auth.users (
          instance_id, id, aud, role, email, encrypted_password, raw_app_meta_data, raw_user_meta_data,
          is_anonymous, confirmation_token, recovery_token, created_at, updated_at
        ) values (
          '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', '',
          ${email}, '$2a$10$abcdefghijklmnopqrstuv',
          '{"provider":"email","providers":["email"]}', ${tx.json({ full_name: `Signup ${n}` })},
          false, '', '', now(), now()
        ) returning id`;
      await tx`update auth.users set role = 'authenticated', updated_at = now() where id = ${id}`;
      await tx`
        insert into auth.identities (provider_id, user_id, identity_data, provider, last_sign_in_at, created_at, updated_at)
        values (${id}, ${id}, ${tx.json({ sub: id, email, email_verified: false, phone_verified: false })}, 'email',
          now(), now(), now())`;
    });
    for (let i = 0; i < 20; i++) await signupOnce(ctx.nextUserNumber(1)); // warm the connection and plans
    for (let i = 0; i < 20; i++) await authSignupOnce(ctx.nextUserNumber(1));
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round so no variant always runs first.
      const names = Object.keys(variants);
      const order = names.map((_, i) => names[(i + round) % names.length]);
      for (const variant of order) {
        await setTriggers(sql, all, false);
        await setTriggers(sql, variants[variant], true);
        const first = ctx.nextUserNumber(perRound);
        const t = performance.now();
        for (let i = 0; i < perRound; i++) await signupOnce(first + i);
        perVariant[variant].push(((performance.now() - t) * 1000) / perRound);
        const firstAuth = ctx.nextUserNumber(perRound);
        const tAuth = performance.now();
        for (let i = 0; i < perRound; i++) await authSignupOnce(firstAuth + i);
        perVariantAuth[variant].push(((performance.now() - tAuth) * 1000) / perRound);
      }
    }
  } finally {
    await conn.end();
    await setTriggers(sql, all, false);
    // Leave the project as the scenario found it: the signups were never synced (nothing relays
    // pg_net here), and left behind they would be drift that every later status call classifies.
    await sql`delete from auth.users where email like 'signup%@example.com'`;
    await setTriggers(sql, ours, true);
    await settle(sql); // vacuum the deleted rows now rather than in the next scenario's first scans
  }
  const [{ queued }] = await sql`select count(*)::int as queued from net.http_request_queue`;
  await sql`truncate net.http_request_queue`;
  await sql`truncate profile_sync.deliveries`;

  // Each variant against the no-trigger run of the same round (paired, so a machine that slows
  // down or speeds up between rounds moves both sides), then the median over rounds.
  const medians = (per) => Object.fromEntries(Object.entries(per).map(([v, xs]) => [v, median(xs)]));
  const us = medians(perVariant);
  const usAuth = medians(perVariantAuth);
  const pairedMedian = (per, v, f) => median(per[v].map((x, round) => f(x, per.none[round])));
  const added = (v, per = perVariant) => pairedMedian(per, v, (x, none) => (x - none) / none);
  const perSignup = (v, per = perVariant, m = us) => {
    const delta = pairedMedian(per, v, (x, none) => x - none);
    return `${delta < 0 ? '' : '+'}${delta.toFixed(0)} µs per signup (medians ${m.none.toFixed(0)} → ${m[v].toFixed(0)} µs)`;
  };
  const figures = [
    figure('signup.none', 'Signup (auth.users insert), no trigger', 1e6 / us.none, 'signups/s', {
      note: `${us.none.toFixed(0)} µs each, one connection, median of ${rounds} round(s) of ${perRound}`,
    }),
    figure('signup.handle_new_user_added', 'Added by handle_new_user (in-transaction insert)', added('handle_new_user') * 100, '%', {
      note: perSignup('handle_new_user'),
    }),
    figure('signup.auth_none', 'Signup as Auth writes it (user, role, identity; one transaction), no trigger', 1e6 / usAuth.none, 'signups/s', {
      note: `${usAuth.none.toFixed(0)} µs each; Auth's bcrypt and HTTP work not included`,
    }),
    figure('signup.auth_handle_new_user_added', 'Added by handle_new_user to that signup', added('handle_new_user', perVariantAuth) * 100, '%', {
      note: perSignup('handle_new_user', perVariantAuth, usAuth),
    }),
  ];
  if (!variants.pg_net) {
    return { ...notAvailable('the pg_net trigger (profile_sync.notify_auth_user_change) is not migrated yet', figures) };
  }
  if (queued < rounds * perRound) throw new Error(`the pg_net trigger queued ${queued} requests for ${rounds * perRound} signups`);
  figures.splice(1, 0, figure('signup.pg_net_added', 'Added by our triggers (queue row + signed wake-up)', added('pg_net') * 100, '%', {
    target: below(10, '< 10 %, and < handle_new_user'),
    note: perSignup('pg_net'),
  }));
  const f = figures[1];
  f.met = f.met && added('pg_net') < added('handle_new_user');
  figures.splice(4, 0, figure('signup.auth_pg_net_added', 'Added by our triggers to that signup', added('pg_net', perVariantAuth) * 100, '%', {
    note: perSignup('pg_net', perVariantAuth, usAuth),
  }));
  return done(figures, { microsecondsPerSignup: us, microsecondsPerAuthSignup: usAuth, rounds, perRound, queued });
}
