/**
 * Samples pg_stat_activity while a test runs, to show the functions' connections stay bounded:
 * the highest count of the functions' sessions (application_name matching a LIKE pattern, e.g.
 * 'profile-sync/%') and of all sessions on the database.
 * @module
 */
import postgres from 'postgres';

export type ConnectionPeak = { functions: number; all: number; samples: number };

export function sampleConnections(url: string, database: string, application: string, everyMs = 20) {
  const sql = postgres(url, { max: 1, prepare: false, onnotice: () => {} });
  const peak: ConnectionPeak = { functions: 0, all: 0, samples: 0 };
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const [row] = await sql<{ functions: number; all: number }[]>`
        select count(*) filter (where application_name like ${application})::int as functions, count(*)::int as "all"
        from pg_catalog.pg_stat_activity where datname = ${database}`.catch(() => [{ functions: 0, all: 0 }]);
      peak.functions = Math.max(peak.functions, row.functions);
      peak.all = Math.max(peak.all, row.all);
      peak.samples++;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop(): Promise<ConnectionPeak> {
      stopped = true;
      await loop;
      await sql.end({ timeout: 1 });
      return peak;
    },
  };
}
