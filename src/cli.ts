/**
 * The `ohem-ref` command: `serve` (the PROTOCOL.md oracle on stdin/stdout), `tour` (the main job
 * for now: SPEC.md's worked examples, computed by the reference, checked against SPEC's numbers and,
 * when python3 with numpy is present, against the independent oracle), `help`.
 */
import { parseArgs } from 'node:util';
import { serve } from './protocol/server.js';
import { runTour } from './demo/tour.js';

const HELP = `ohem-ref — a golden reference of Online Hard Example Mining (OHEM)

Usage:
  ohem-ref serve            answer PROTOCOL.md requests (JSON lines) on stdin/stdout
  ohem-ref tour [--no-oracle]
                            compute SPEC.md's worked examples (C rounding, the 57-cell overshoot,
                            NMS at a float32 threshold, the mining epsilon, tie order …), check
                            each against SPEC and against the numpy oracle, and print a table
  ohem-ref help             this text

Options:
  -h, --help                this text
`;

const main = async (argv: string[]): Promise<number> => {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      await serve();
      return 0;
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
