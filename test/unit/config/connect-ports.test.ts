import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../../src/cli/args.js';

function runConfig(argv: string[]) {
  const command = parseCommand(argv);
  if (command.kind !== 'run') throw new Error('expected a run command');
  return command.config;
}

describe('access.connectPorts and --connect-ports', () => {
  it('is [443] by default', () => {
    expect(runConfig([]).access.connectPorts).toEqual([443]);
  });

  it('stays [443] with --allow-private: private destinations and CONNECT ports are separate decisions', () => {
    const c = runConfig(['--allow-private']);
    expect(c.access.allowPrivateDestinations).toBe(true);
    expect(c.access.connectPorts).toEqual([443]);
  });

  it('--connect-ports takes a list, or any (every port)', () => {
    expect(runConfig(['--connect-ports', '443,8443, 22']).access.connectPorts).toEqual([443, 8443, 22]);
    expect(runConfig(['--connect-ports', 'any']).access.connectPorts).toEqual([]);
  });

  it.each([['0'], ['443,x'], ['65536'], ['']])('--connect-ports %j is refused naming the flag', (value) => {
    expect(() => runConfig(['--connect-ports', value])).toThrow(/--connect-ports/);
  });
});
