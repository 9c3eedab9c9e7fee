/**
 * The config file (raw.ts) plus command-line overrides → Config, through
 * resolve.ts; and the list of features this build parses but does not run yet.
 * The command line itself is parsed above this layer (cli/args.ts), which
 * hands over the file name and an Overrides value. Every failure is a
 * ConfigError naming the key or flag; main exits with 2.
 */
import { dirname } from 'node:path';
import { isManifest, translateManifests } from './manifests.js';
import { ConfigError, readConfigFile } from './raw.js';
import { resolveConfig, type Overrides } from './resolve.js';
import type { Config } from './types.js';

export { ConfigError } from './raw.js';

/** Read `configFile` (null = none: defaults) and apply the command-line overrides over it. */
export function loadConfig(configFile: string | null, overrides: Overrides): Config {
  if (configFile === null) return resolveConfig(null, overrides, { baseDir: process.cwd() });
  const file = readConfigFile(configFile);
  // Kubernetes manifests (kind: Backend / HTTPRoute / VirtualService) translate to routes.
  const raw = file.documents.length > 1 || file.documents.some(isManifest) ? translateManifests(file.documents, configFile) : (file.documents[0] ?? null);
  return resolveConfig(raw, overrides, { baseDir: dirname(configFile) });
}

/**
 * ======== NOT SUPPORTED YET ========
 * Features the config parses and validates fully but this build does not run.
 * A later stage that implements one deletes its line here (and its test case
 * in test/unit/config/unsupported.test.ts).
 */
export function rejectUnsupported(config: Config): void {
  const no = (path: string): never => {
    throw new ConfigError(path, 'not supported yet');
  };
  config.routes.forEach((r, i) => {
    if (r.backend.type === 'Static') no(`routes[${i}].backend.type`);
  });
}

/* ======== end NOT SUPPORTED YET ======== */
