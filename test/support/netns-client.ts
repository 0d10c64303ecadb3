import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A client that is not on this machine's loopback, without leaving the machine: a network
 * namespace joined to the test's own by a veth pair on a private /30. Requests from it reach a
 * server bound to 0.0.0.0 at `hostAddress` and come from `clientAddress`. Needs root and `ip`
 * (iproute2). remove() deletes the pair and the namespace; safe to call twice.
 */
export class NetnsClient {
  private removed = false;

  private constructor(
    readonly namespace: string,
    private readonly hostLink: string,
    readonly hostAddress: string,
    readonly clientAddress: string,
  ) {}

  static async create(): Promise<NetnsClient> {
    const tag = `${process.pid % 100_000}${Math.floor(Math.random() * 100)}`;
    // 10.231.x.y/30: private, and a fresh one per run so parallel worktrees never collide.
    const x = Math.floor(Math.random() * 250);
    const y = Math.floor(Math.random() * 63) * 4;
    const client = new NetnsClient(
      `sluice-${tag}`,
      `slh${tag}`,
      `10.231.${x}.${y + 1}`,
      `10.231.${x}.${y + 2}`,
    );
    const peer = `slc${tag}`;
    const steps: string[][] = [
      ['netns', 'add', client.namespace],
      ['link', 'add', client.hostLink, 'type', 'veth', 'peer', 'name', peer],
      ['link', 'set', peer, 'netns', client.namespace],
      ['addr', 'add', `${client.hostAddress}/30`, 'dev', client.hostLink],
      ['link', 'set', client.hostLink, 'up'],
      ['-n', client.namespace, 'addr', 'add', `${client.clientAddress}/30`, 'dev', peer],
      ['-n', client.namespace, 'link', 'set', peer, 'up'],
      ['-n', client.namespace, 'link', 'set', 'lo', 'up'],
    ];
    try {
      for (const args of steps) await run('ip', args);
    } catch (err) {
      await client.remove();
      throw err;
    }
    return client;
  }

  /** An HTTP request made from inside the namespace (a Node child there), to the host side. */
  async request(
    port: number,
    path: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: string }> {
    const script = `
      fetch(process.argv[1], { headers: JSON.parse(process.argv[2]), signal: AbortSignal.timeout(10000) })
        .then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })))
        .catch((e) => { console.error(String(e)); process.exit(1); });`;
    const url = `http://${this.hostAddress}:${port}${path}`;
    const { stdout } = await run('ip', [
      'netns',
      'exec',
      this.namespace,
      process.execPath,
      '-e',
      script,
      url,
      JSON.stringify(headers),
    ]);
    return JSON.parse(stdout) as { status: number; body: string };
  }

  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    // Deleting one end of a veth pair deletes both.
    await run('ip', ['link', 'del', this.hostLink]).catch(() => undefined);
    await run('ip', ['netns', 'del', this.namespace]).catch(() => undefined);
  }
}
