/** curl as a real client in end-to-end tests: no proxy variables from the environment, a 10 s cap. */
import { execFile, spawnSync } from 'node:child_process';

export const hasCurl = spawnSync('curl', ['--version']).status === 0;
if (!hasCurl) console.warn('curl is not installed; the curl cases are skipped (CI installs curl)');


/** The environment without any proxy variables, so only our flags decide. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/_proxy$/i.test(k) && k.toLowerCase() !== 'all_proxy') env[k] = v;
  }
  return env;
}

export interface CurlResult {
  status: number;
  body: string;
  stderr: string;
}

/** Run curl with -s and a 10 s cap; the status code is appended after a marker line. */
export function curl(args: string[], stdin?: string): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'curl',
      ['-s', '-S', '--max-time', '10', '-w', '\n@@%{http_code}', ...args],
      { env: cleanEnv(), timeout: 15_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const i = stdout.lastIndexOf('\n@@');
        if (i < 0) {
          reject(new Error(`curl failed: ${err?.message} ${stderr}`));
          return;
        }
        resolve({ status: Number(stdout.slice(i + 3)), body: stdout.slice(0, i), stderr });
      },
    );
    if (stdin !== undefined) child.stdin!.end(stdin);
  });
}

