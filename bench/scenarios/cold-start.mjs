// Scenario 6: cold start of each function, from process spawn to its first 200, over several
// spawns (the first start of each scenario's process is one of the samples).
import { below, done, figure, notAvailable } from '../lib/figures.mjs';
import { median } from '../lib/load.mjs';

export async function coldStart(ctx) {
  const figures = [];
  const details = {};
  const extra = ctx.smoke ? 0 : 4;
  for (const [name, probe] of Object.entries(ctx.probes)) {
    for (let i = 0; i < extra; i++) {
      const fn = await ctx.startFunction(name, probe);
      await fn.stop();
    }
    const samples = ctx.coldStarts[name];
    const boot = samples.map((x) => x.boot);
    const firstOk = samples.map((x) => x.firstOk);
    details[name] = samples;
    figures.push(figure(`cold_start.${name}`, `Cold start ${name} (spawn → first 200)`, median(firstOk), 'ms', {
      target: below(200, '< 200 ms'),
      note: `median of ${samples.length} (min ${Math.min(...firstOk).toFixed(0)}, max ${Math.max(...firstOk).toFixed(0)}); ` +
        `boot alone (spawn → first answer, no database) ${median(boot).toFixed(0)} ms`,
    }));
  }
  if (figures.length === 0) return notAvailable('no function answered 200 yet');
  return done(figures, { samplesMs: details });
}
