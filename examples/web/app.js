// profile-sync example: right after sign-in, sync the caller's profile and show it.
// The same few lines belong in any frontend (see README.md here for Next.js/React).
const { supabaseUrl, publishableKey } = await (await fetch('/config.json')).json();
const supabase = globalThis.supabase.createClient(supabaseUrl, publishableKey);

const FIELDS = [
  ['full_name', 'Name'],
  ['email', 'Email'],
  ['phone', 'Phone'],
  ['provider', 'Provider'],
  ['role', 'Role'],
  ['id', 'User id'],
  ['created_at', 'Created'],
  ['updated_at', 'Updated'],
];
const status = document.querySelector('#status');
const view = document.querySelector('#profile');
const avatar = document.querySelector('#avatar');

function show(state, text) {
  status.dataset.state = state;
  status.textContent = text;
}

function render(profile) {
  view.replaceChildren(...FIELDS.flatMap(([key, label]) => {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = label;
    dd.textContent = profile[key] ?? '—';
    dd.dataset.field = key;
    return [dt, dd];
  }));
  view.dataset.userId = profile.id;
  view.hidden = false;
  avatar.hidden = !profile.avatar_url;
  if (profile.avatar_url) avatar.src = profile.avatar_url;
}

async function syncProfile() {
  show('syncing', 'Syncing your profile…');
  // supabase-js sends the user's access token; the function verifies it and syncs that user.
  const { data, error } = await supabase.functions.invoke('sync-profile');
  if (error) {
    // A FunctionsHttpError carries the function's response: {"error":{"code","message"}}.
    const body = await error.context?.json?.().catch(() => null);
    show('error', `Sync failed: ${body?.error?.code ?? error.message}`);
    return;
  }
  render(data.profile);
  show('synced', 'Profile synced.');
}

let syncedFor;
supabase.auth.onAuthStateChange((event, session) => {
  if (event === 'SIGNED_IN' && session?.user.id !== syncedFor) {
    syncedFor = session.user.id;
    // Never await a Supabase call inside this callback (it runs under the auth lock): defer it.
    setTimeout(syncProfile, 0);
  }
  if (event === 'SIGNED_OUT') {
    syncedFor = undefined;
    view.hidden = avatar.hidden = true;
    show('signed-out', 'Signed out.');
  }
});

document.querySelector('#sign-in').addEventListener(
  'click',
  () => supabase.auth.signInWithOAuth({ provider: 'github', options: { redirectTo: location.href } }),
);
document.querySelector('#sign-out').addEventListener('click', () => supabase.auth.signOut());
