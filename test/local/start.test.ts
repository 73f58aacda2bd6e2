/**
 * `npm start` itself (local/start.ts under tsx, as package.json runs it), as a child process: it
 * starts on the PORT it is given with its files in API_BILLING_LOCAL_DIR, prints a demo key that
 * makes a metered call, serves an unmetered route, and on Ctrl-C (SIGINT to its process group, as
 * a terminal sends it) stops everything it started and exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../local/dynamodb-local.ts';
import { LocalStackStateSchema, type LocalStackState } from '../../local/state.ts';

const ROOT = resolve(__dirname, '../..');

/** Every process descended from `pid`, from /proc. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone while we looked
    }
  }
  const found: number[] = [];
  const visit = (p: number): void => {
    for (const child of parents.get(p) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found;
}

const commandLine = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
};
/** Running (not merely a zombie waiting to be reaped). */
const alive = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};

/** Resolves with the first match of `pattern` in the child's stdout; rejects if it exits first. */
function awaitOutput(child: ChildProcess, pattern: RegExp, output: { text: string }): Promise<RegExpExecArray> {
  return new Promise((done, fail) => {
    const check = () => {
      const match = pattern.exec(output.text);
      if (match) {
        child.stdout!.off('data', check);
        child.off('exit', exited);
        done(match);
      }
    };
    const exited = (code: number | null) => fail(new Error(`npm start exited (${code}) before printing ${pattern}:\n${output.text}`));
    child.stdout!.on('data', check);
    child.once('exit', exited);
    check();
  });
}

describe('npm start (local/start.ts as a child process)', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    // Only if the test failed before stopping it: its whole process group, DynamoDB Local included.
    if (child?.pid && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, 'SIGKILL');
  });

  it('serves on PORT, prints a demo key that makes a metered call, and stops everything on Ctrl-C with exit code 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'npm-start-'));
    const port = await freePort();
    const output = { text: '' };
    let errors = '';
    child = spawn(process.execPath, [require.resolve('tsx/cli'), 'local/start.ts'], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), API_BILLING_LOCAL_DIR: dir, STRIPE_SECRET_KEY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, as a terminal gives a foreground job
    });
    child.stdout!.on('data', (chunk: Buffer) => (output.text += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child!.once('exit', (code, signal) => done({ code, signal })));

    const [, customerId, key] = await awaitOutput(child, /customer\s+(cust_\S+)\n\s+API key\s+(ab_live_[A-Za-z0-9_-]{43})\n/, output);
    expect(output.text).toContain(`API gateway     http://127.0.0.1:${port}/prod`);
    const state: LocalStackState = LocalStackStateSchema.parse(JSON.parse(readFileSync(join(dir, 'stack.json'), 'utf8')));
    expect(state.gatewayUrl).toBe(`http://127.0.0.1:${port}/prod`);
    expect(state.accessLogFile.startsWith(dir)).toBe(true);

    const metered = await fetch(`${state.gatewayUrl}/api/hello`, { headers: { 'x-api-key': key! } });
    expect(metered.status).toBe(200);
    expect(metered.headers.get('x-ratelimit-limit')).toBe('1000');
    const usage = await fetch(`${state.gatewayUrl}/usage`, { headers: { 'x-api-key': key! } });
    expect(usage.status).toBe(200);
    expect(await usage.json()).toMatchObject({ customerId, tier: 'free' });
    expect((await fetch(`${state.gatewayUrl}/api/hello`, { headers: { 'x-api-key': 'nope' } })).status).toBe(401);
    // The metered call is in the access log the stack writes into its folder.
    const logged = readFileSync(state.accessLogFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>);
    expect(logged.filter((l) => l.customerId === customerId).map((l) => [l.resourcePath, l.status])).toEqual([
      ['/api/{proxy+}', '200'],
      ['/usage', '200'],
    ]);

    const started = descendants(child.pid!);
    const java = started.filter((pid) => commandLine(pid).includes('DynamoDBLocal.jar'));
    expect(java).toHaveLength(1);
    expect(commandLine(java[0]!)).toContain(`-port ${new URL(state.dynamoDbEndpoint).port}`);

    process.kill(-child.pid!, 'SIGINT'); // Ctrl-C
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(output.text).toContain('Stopping…');
    expect(started.filter(alive).map((pid) => `${pid} ${commandLine(pid)}`)).toEqual([]);
    await expect(fetch(state.dynamoDbEndpoint, { method: 'POST' })).rejects.toThrow();
    await expect(fetch(`${state.gatewayUrl}/usage`)).rejects.toThrow();
    expect(existsSync(join(dir, 'stack.json'))).toBe(false);
  }, 240_000); // DynamoDB Local's JVM, the tables and the demo month on a loaded 2-core machine: a minute or more
});
