// A measured figure, optionally set against its physical limit and a target. Scenarios return
// lists of these; the report renders them and results.json keeps them as they are.

/**
 * value/unit: what profile-sync achieved. limit: the same work done the fastest possible way
 * (ratio = value / limit for rates). target: {on: 'value'|'ratio', op: '<'|'>=', bound, text}.
 */
export function figure(id, label, value, unit, { limit, ratio, target, note } = {}) {
  const f = { id, label, value, unit };
  if (limit !== undefined) f.limit = limit;
  if (ratio !== undefined) f.ratio = ratio;
  else if (limit !== undefined && limit > 0 && unit.endsWith('/s')) f.ratio = value / limit;
  if (target) {
    const measured = target.on === 'ratio' ? f.ratio : value;
    f.target = target.text;
    f.met = target.op === '<' ? measured < target.bound : measured >= target.bound;
  }
  if (note) f.note = note;
  return f;
}

export const atLeast = (bound, text, on = 'value') => ({ on, op: '>=', bound, text });
export const below = (bound, text, on = 'value') => ({ on, op: '<', bound, text });

/** A scenario that could not run because the code it measures is not written yet. */
export const notAvailable = (reason, figures = []) => ({ status: 'not available yet', reason, figures });
export const done = (figures, details = {}) => ({ status: 'ok', figures, details });

export async function timed(work) {
  const t = performance.now();
  const result = await work();
  return { result, ms: performance.now() - t };
}
