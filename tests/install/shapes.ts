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

/** The mapping proposeMapping gives for SHAPE_A (the quickstart's profiles): the one a team would write (adoption-shapes.sql). */
export const QUICKSTART_PROPOSAL = {
  table: 'public.profiles',
  key: 'id',
  columns: {
    updated_at: 'updated_at',
    username: { from: 'user_metadata.preferred_username', owner: 'app' },
    full_name: 'full_name',
    avatar_url: 'avatar_url',
  },
  soft_delete: null,
  user_editable: ['username', 'full_name', 'avatar_url', 'website'],
  roles: { default: 'user', self_assignable: [] },
};

