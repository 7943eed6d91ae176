/**
 * The `ohem-ref` command: `demo` (the main job, `npm start`: OHEM and the standard Fast R-CNN
 * sampler trained side by side on a synthetic world, with an HTML report), `serve` (the
 * PROTOCOL.md oracle on stdin/stdout), `tour` (SPEC.md's worked examples, computed by the
 * reference, checked against SPEC's numbers and, when python3 with numpy is present, against the
 * independent oracle), `golden` (write the golden vectors), `conform` (run a port through the
 * golden vectors and the differential properties), `help`.
 */
import { parseArgs } from 'node:util';
import * as E from 'fp-ts/lib/Either.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { serve, describeInfo } from './protocol/server.js';
import { opTableMarkdown, withOpTable } from './protocol/contract.js';
import { DEFAULT_LIMITS } from './core/index.js';
import { runTour } from './demo/tour.js';
import { GOLDEN_HELP, CONFORM_HELP, goldenCommand, conformCommand } from './conform/commands.js';
import { DEMO_DEFAULTS, runDemo, type Pooler } from './demo/demo.js';
import { parseSamplers, SAMPLERS } from './demo/miners.js';
import { updateReadme } from './demo/readme.js';
import { join } from 'node:path';

const HELP = `ohem-ref — a golden reference of Online Hard Example Mining (OHEM)

Usage:
  ohem-ref demo [options]   which hard-example miner? Train six samplers side by side on the
                            synthetic detection world of several seeds: Fast R-CNN's standard
                            sampler, the same with BG_THRESH_LO 0, and the mining dialects
                            caffe-ohem, mmdet-ohem, tf-hard-example-miner, ssd-hard-negative;
                            evaluate them on held-out scenes (VOC07 AP, loss over all RoIs) with
                            the spread over the seeds and the cost of each; write an HTML report
                            with SVG plots and print the table (npm start runs this)
      --iters N             solver iterations per run (default ${DEMO_DEFAULTS.iters})
      --seed S              the first seed (default ${DEMO_DEFAULTS.seed}); a seed gives the world,
                            the initial weights, the image order and the standard sampler's draws
      --seeds N             seeds S, S+1, …, S+N−1 (default ${DEMO_DEFAULTS.seeds})
      --samplers A,B,…      which samplers, in this order (default all: ${SAMPLERS.join(', ')})
      --jobs N              worker threads (default: the cores); changes the clock, not a number
      --pooler P            roi_pool (default) or roi_align (aligned, sampling_ratio 2)
      --out DIR             report directory (default ${DEMO_DEFAULTS.out}/)
      --backend NAME        kernels for the heavy ops (default reference)
      --update-readme       run nothing: rewrite the generated results of the README (--readme
                            FILE, default README.md) from DIR/results.json (npm run demo:readme)
      -h, --help            this text
  ohem-ref serve [--max-bytes N]
                            answer protocol requests (JSON lines, docs/protocol.md) on
                            stdin/stdout; --max-bytes sets the input and the output byte
                            budget of one request (default ${DEFAULT_LIMITS.maxInputBytes})
  ohem-ref schema [--json | --update FILE]
                            print the contract read from the op registry: the op table of
                            docs/protocol.md (markdown), or describe's schema (--json); --update
                            rewrites the generated table of FILE (npm run docs)
  ohem-ref tour [--no-oracle]
                            compute SPEC.md's worked examples (C rounding, the 57-cell overshoot,
                            NMS at a float32 threshold, the mining epsilon, tie order …), check
                            each against SPEC and against the numpy oracle, and print a table
${GOLDEN_HELP}${CONFORM_HELP}  ohem-ref help             this text

Options:
  -h, --help                this text
`;

const main = async (argv: string[]): Promise<number> => {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve': {
      let values: { 'max-bytes'?: string };
      try {
        ({ values } = parseArgs({ args: rest, options: { 'max-bytes': { type: 'string' } }, strict: true, allowPositionals: false }));
      } catch (e) {
        process.stderr.write(`ohem-ref serve: ${(e as Error).message}\n`);
        return 2;
      }
      const mb = values['max-bytes'];
      if (mb !== undefined && !/^\d+$/.test(mb.trim())) {
        process.stderr.write(`ohem-ref serve: --max-bytes must be a non-negative integer, got ${JSON.stringify(mb)}\n`);
        return 2;
      }
      const limits = mb === undefined ? DEFAULT_LIMITS : { ...DEFAULT_LIMITS, maxInputBytes: Number(mb), maxOutputBytes: Number(mb) };
      await serve(process.stdin, process.stdout, { limits });
      return 0;
    }
    case 'schema': {
      let values: { json?: boolean; update?: string };
      try {
        ({ values } = parseArgs({ args: rest, options: { json: { type: 'boolean' }, update: { type: 'string' } }, strict: true, allowPositionals: false }));
      } catch (e) {
        process.stderr.write(`ohem-ref schema: ${(e as Error).message}\n`);
        return 2;
      }
      if (values.json) {
        process.stdout.write(JSON.stringify(describeInfo(), null, 1) + '\n');
        return 0;
      }
      if (values.update) {
        const next = withOpTable(readFileSync(values.update, 'utf8'));
        if (next === null) {
          process.stderr.write(`ohem-ref schema: ${values.update} has no generated op table markers\n`);
          return 1;
        }
        writeFileSync(values.update, next);
        process.stdout.write(`schema: updated the op table of ${values.update}\n`);
        return 0;
      }
      process.stdout.write(opTableMarkdown() + '\n');
      return 0;
    }
    case 'demo': {
      let values: {
        iters?: string;
        seed?: string;
        seeds?: string;
        samplers?: string;
        jobs?: string;
        pooler?: string;
        out?: string;
        backend?: string;
        'update-readme'?: boolean;
        readme?: string;
        help?: boolean;
      };
      try {
        ({ values } = parseArgs({
          args: rest,
          options: {
            iters: { type: 'string' },
            seed: { type: 'string' },
            seeds: { type: 'string' },
            samplers: { type: 'string' },
            jobs: { type: 'string' },
            pooler: { type: 'string' },
            out: { type: 'string' },
            backend: { type: 'string' },
            'update-readme': { type: 'boolean' },
            readme: { type: 'string' },
            help: { type: 'boolean', short: 'h' },
          },
          strict: true,
          allowPositionals: false,
        }));
      } catch (e) {
        process.stderr.write(`ohem-ref demo: ${(e as Error).message}\n\n${HELP}`);
        return 2;
      }
      if (values.help) {
        process.stdout.write(HELP);
        return 0;
      }
      const out = values.out ?? DEMO_DEFAULTS.out;
      if (values['update-readme']) {
        const readme = values.readme ?? 'README.md';
        const r = updateReadme(readme, join(out, 'results.json'));
        if (E.isLeft(r)) {
          process.stderr.write(`ohem-ref demo: ${r.left.message}\n`);
          return 1;
        }
        process.stdout.write(`demo: updated the generated results of ${readme} from ${join(out, 'results.json')}\n`);
        return 0;
      }
      const int = (name: string, v: string | undefined, d: number): number | string =>
        v === undefined ? d : /^\d+$/.test(v.trim()) ? Number(v) : `--${name} must be a non-negative integer, got ${JSON.stringify(v)}`;
      const iters = int('iters', values.iters, DEMO_DEFAULTS.iters);
      const seed = int('seed', values.seed, DEMO_DEFAULTS.seed);
      const seeds = int('seeds', values.seeds, DEMO_DEFAULTS.seeds);
      const jobs = values.jobs === undefined ? undefined : int('jobs', values.jobs, 0);
      for (const v of [iters, seed, seeds, jobs])
        if (typeof v === 'string') {
          process.stderr.write(`ohem-ref demo: ${v}\n`);
          return 2;
        }
      const samplers = values.samplers === undefined ? { ok: [...DEMO_DEFAULTS.samplers] } : parseSamplers(values.samplers);
      if ('bad' in samplers) {
        process.stderr.write(`ohem-ref demo: --samplers: ${JSON.stringify(samplers.bad)} is not a sampler (or is named twice); the samplers: ${SAMPLERS.join(', ')} (or all)\n`);
        return 2;
      }
      const r = await runDemo(
        {
          iters: iters as number,
          seed: seed as number,
          seeds: seeds as number,
          samplers: samplers.ok,
          out,
          backend: values.backend ?? DEMO_DEFAULTS.backend,
          pooler: (values.pooler ?? DEMO_DEFAULTS.pooler) as Pooler,
          ...(jobs !== undefined ? { jobs: jobs as number } : {}),
        },
        { stderr: process.stderr, stdout: process.stdout, now: () => performance.now() },
      );
      if (E.isLeft(r)) {
        process.stderr.write(`ohem-ref demo: ${r.left.message}\n`);
        return r.left.input.startsWith('--') ? 2 : 1;
      }
      return 0;
    }
    case 'golden':
      return goldenCommand(rest);
    case 'conform':
      return conformCommand(rest);
    case 'tour': {
      const { values } = parseArgs({ args: rest, options: { 'no-oracle': { type: 'boolean' } }, strict: true });
      return runTour({ oracle: !values['no-oracle'] });
    }
    case undefined:
    case 'help':
    case '-h':
    case '--help':
      process.stdout.write(HELP);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`ohem-ref: unknown command ${JSON.stringify(command)}\n\n${HELP}`);
      return 2;
  }
};

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`ohem-ref: ${(e as Error)?.stack ?? e}\n`);
    process.exitCode = 70;
  },
);
