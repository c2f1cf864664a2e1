import { resolve } from 'node:path';
import { processAlive, readServerFile } from '../core/server-file';
import { VERSION } from '../core/version';
import { TrellisClient } from '../client/trellis-client';

export interface GlobalOptions {
  dataDir: string;
  url?: string;
  token?: string;
}

export interface Connection {
  client: TrellisClient;
  /** Stops the in-process server when the CLI started one for this command. */
  release(): Promise<void>;
}

/**
 * The platform this command talks to: `--url` (a shared server), else the workspace's running server from
 * `.trellis/server.json`, else an in-process server on the same data directory for the length of the command.
 * All three go through the same HTTP API, so a command behaves the same whichever it gets.
 */
export async function connect(options: GlobalOptions): Promise<Connection> {
  if (options.url) return { client: new TrellisClient(options.url.replace(/\/$/, ''), options.token), release: async () => {} };
  const dataDir = resolve(options.dataDir);
  const announced = readServerFile(dataDir);
  if (announced && processAlive(announced.pid)) {
    const client = new TrellisClient(announced.url, announced.token);
    if (await client.health()) return { client, release: async () => {} };
  }
  // Loaded only here: the whole platform (SQLite, Docker, model host) is most of the CLI's start-up cost.
  const { startPlatformServer } = await import('../server/platform-server.js');
  const server = await startPlatformServer({ dataDir, version: VERSION, log: () => {} });
  return { client: new TrellisClient(server.url, server.token), release: () => server.close() };
}
