import * as vscode from 'vscode';
import type { ChangeEvent } from '../core/events';
import { TrellisClient } from '../client/trellis-client';
import { EventStream } from './event-stream';
import { PlatformProcess } from './platform-process';
import { resolveDataDir, settings } from './settings';

export type PlatformState =
  | { kind: 'stopped' }
  | { kind: 'starting' }
  /** `owned`: this window spawned the server; `shared`: `trellis.server.url` points elsewhere. */
  | { kind: 'running'; url: string; owned: boolean; shared: boolean }
  | { kind: 'failed'; message: string };

/**
 * The connection to the workspace's platform server: which server, whether this window owns it, the
 * client to talk to it and its change stream. Views and commands go through here.
 */
export class Platform implements vscode.Disposable {
  private readonly stateEmitter = new vscode.EventEmitter<PlatformState>();
  private readonly changeEmitter = new vscode.EventEmitter<ChangeEvent>();
  readonly onDidChangeState = this.stateEmitter.event;
  /** Store changes from the server's event stream. */
  readonly onDidChange = this.changeEmitter.event;
  private current: PlatformState = { kind: 'stopped' };
  private connection: { client: TrellisClient; events: EventStream } | undefined;
  private process: PlatformProcess | undefined;

  constructor(
    private readonly extensionPath: string,
    private readonly globalStorage: string,
    readonly log: vscode.LogOutputChannel,
  ) {}

  get state(): PlatformState {
    return this.current;
  }

  get dataDir(): string {
    return resolveDataDir(this.globalStorage);
  }

  /** The client when connected, else undefined (views show their welcome content). */
  get client(): TrellisClient | undefined {
    return this.connection?.client;
  }

  /** The client, or an error that says how to get one. */
  requireClient(): TrellisClient {
    if (!this.connection) throw new Error('The Trellis platform is not running. Start it with "Trellis: Start Platform".');
    return this.connection.client;
  }

  /** Connects to what already runs (a shared URL or the workspace's announced server) without starting anything. */
  async attach(): Promise<void> {
    const { serverUrl } = settings();
    if (serverUrl) {
      await this.start();
      return;
    }
    const info = await this.newProcess().attach();
    if (info) this.connect(new TrellisClient(info.url, info.token), { kind: 'running', url: info.url, owned: false, shared: false });
  }

  /** `cancel` stops a server still starting (the progress notification's Cancel). */
  async start(cancel?: AbortSignal): Promise<PlatformState> {
    if (this.current.kind === 'running') return this.current;
    this.setState({ kind: 'starting' });
    try {
      const { serverUrl } = settings();
      if (serverUrl) {
        const client = new TrellisClient(serverUrl, process.env.TRELLIS_TOKEN);
        if (!(await client.health())) throw new Error(`The shared server in trellis.server.url (${serverUrl}) does not answer /health.`);
        this.connect(client, { kind: 'running', url: serverUrl, owned: false, shared: true });
      } else {
        const proc = this.newProcess();
        const { info, spawned } = await proc.start(() => {
          // Our server went away (crash or stop): views fall back to their welcome content.
          if (this.process === proc) this.disconnect({ kind: 'stopped' });
        }, cancel);
        this.log.info(spawned ? `started the platform server at ${info.url} (pid ${info.pid})` : `attached to the running platform server at ${info.url} (pid ${info.pid})`);
        this.connect(new TrellisClient(info.url, info.token), { kind: 'running', url: info.url, owned: spawned, shared: false });
      }
    } catch (err) {
      const message = (err as Error).message;
      this.log.error(message);
      this.setState({ kind: 'failed', message });
      throw err;
    }
    return this.current;
  }

  /** Stops the server if this window started it; otherwise only disconnects and says so. Returns whether it stopped one. */
  async stop(): Promise<boolean> {
    const proc = this.process;
    const owned = this.current.kind === 'running' && this.current.owned;
    this.process = undefined;
    this.disconnect({ kind: 'stopped' });
    if (owned && proc) {
      await proc.stop();
      this.log.info('stopped the platform server this window started');
      return true;
    }
    return false;
  }

  dispose(): void {
    this.connection?.events.dispose();
    this.stateEmitter.dispose();
    this.changeEmitter.dispose();
  }

  /** Stops what this window started (on deactivate). */
  async shutdown(): Promise<void> {
    this.connection?.events.dispose();
    if (this.current.kind === 'running' && this.current.owned) await this.process?.stop();
  }

  private newProcess(): PlatformProcess {
    this.process = new PlatformProcess({
      extensionPath: this.extensionPath,
      dataDir: this.dataDir,
      dockerHost: settings().dockerHost,
      log: (line) => this.log.info(line),
    });
    return this.process;
  }

  private connect(client: TrellisClient, state: PlatformState): void {
    this.connection?.events.dispose();
    const events = new EventStream(
      client,
      (e) => this.changeEmitter.fire(e),
      (line) => this.log.warn(line),
      () => void this.checkAlive(client),
    );
    this.connection = { client, events };
    this.setState(state);
  }

  /** A server started elsewhere can go away without telling us: when its stream drops and /health fails, let go. */
  private async checkAlive(client: TrellisClient): Promise<void> {
    if (this.connection?.client !== client || (await client.health())) return;
    if (this.connection?.client !== client) return;
    this.log.warn(`the platform server at ${client.url} stopped answering; disconnected`);
    this.disconnect({ kind: 'stopped' });
  }

  private disconnect(state: PlatformState): void {
    this.connection?.events.dispose();
    this.connection = undefined;
    this.setState(state);
  }

  private setState(state: PlatformState): void {
    this.current = state;
    void vscode.commands.executeCommand('setContext', 'trellis.platformRunning', state.kind === 'running');
    this.stateEmitter.fire(state);
  }
}
