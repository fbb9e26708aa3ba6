/** The help of every command is generated from the flags parseArgs is given: each flag listed with its description, none invented. */
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../../bin/commands/index.ts';

describe('generated help', () => {
  it('lists every flag of every command with the first line of its description', () => {
    for (const [name, command] of Object.entries(COMMANDS)) {
      for (const [flag, f] of Object.entries(command.options)) {
        if (flag === 'help') continue;
        const lead = `--${flag}${f.arg && flag !== 'json' && flag !== 'quiet' ? ` ${f.arg}` : ''}`;
        expect(command.usage, `dr ${name} --help`).toContain(lead);
        if (flag !== 'json' && flag !== 'quiet') {
          const line = command.usage.split('\n').find((l) =>
            l
              .trimStart()
              .replace(/^-\w, /, '')
              .startsWith(`${lead} `),
          );
          expect(line, `dr ${name} --help: ${lead}`).toContain(f.help.split('\n')[0]);
        }
      }
    }
  });

  it('names in each synopsis only flags the command parses', () => {
    for (const [name, command] of Object.entries(COMMANDS)) {
      const synopsis = command.usage.split('\n')[0]!;
      // dr pitr info is dr pitr check under a second name, help included.
      expect(synopsis).toMatch(new RegExp(`^Usage: dr ${name === 'pitr info' ? 'pitr check' : name} `));
      for (const [, flag] of synopsis.matchAll(/--([a-z][a-z-]*)/g))
        expect(Object.keys(command.options), `dr ${name}: ${synopsis}`).toContain(flag);
    }
  });

  it('dr restore: --backup optional in the synopsis, the point-in-time flags under their own heading', () => {
    const help = COMMANDS.restore!.usage;
    expect(help).toMatch(/^Usage: dr restore --repo URL \[--backup latest\|ID\] --target URL \[flags\]\n/);
    expect(help).toMatch(/\n\nPoint-in-time recovery from a pgBackRest repository.*\n.*\n {2}--pitr URL /);
  });
});
