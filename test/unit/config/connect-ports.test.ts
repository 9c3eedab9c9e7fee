import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../../src/cli/args.js';

function runConfig(argv: string[]) {
  const command = parseCommand(argv);
  if (command.kind !== 'run') throw new Error('expected a run command');
  return command.config;
}

describe('access.connectPorts default', () => {
  it('is [443] for a public-only proxy', () => {
    expect(runConfig([]).access.connectPorts).toEqual([443]);
  });

  it('opens every port when private destinations are allowed and connectPorts is not given', () => {
    expect(runConfig(['--allow-private']).access.connectPorts).toEqual([]);
  });
});
