/**
 * Beside the adoption shapes (tests/helpers/adoption_shapes.mjs): an ORM table with a column
 * nothing in auth can fill, and the mapping proposed for the quickstart's profiles.
 * @module
 */
/** An ORM-managed table with a NOT NULL column nothing in auth can fill. */
export const ORM_ACCOUNTS = `
create table public.accounts (
  id bigint generated always as identity primary key,
  auth_id uuid not null unique references auth.users(id) on delete cascade,
  tenant_id uuid not null,
  display_name text,
  email text
);
`;

/**
 * The mapping `init --db-url` proposes for SHAPE_A (the quickstart's profiles): what the replaced
 * handle_new_user set (full_name, avatar_url); username (unique, CHECK username_length) only
 * suggested, since a short or taken handle would fail the row; updated_at the app's own.
 */
export const QUICKSTART_PROPOSAL = {
  table: 'public.profiles',
  key: 'id',
  columns: {
    full_name: 'full_name',
    avatar_url: 'avatar_url',
  },
  soft_delete: null,
  user_editable: ['username', 'full_name', 'avatar_url', 'website'],
  roles: { default: 'user', self_assignable: [] },
  suggestions: {
    username: {
      column: { from: 'user_metadata.preferred_username', owner: 'app' },
      why: 'not mapped: it is unique (a value another user has fails the row); CHECK username_length (a value it refuses fails the row); the trigger it replaces never set it',
    },
  },
};
