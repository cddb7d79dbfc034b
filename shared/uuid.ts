/**
 * User ids: the one check of what a uuid looks like, for request bodies, webhook payloads and
 * the CLI's arguments (the database checks again when it casts).
 * @module
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (s: unknown): s is string => typeof s === 'string' && UUID.test(s);
