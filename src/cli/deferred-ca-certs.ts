import { readFileSync } from 'node:fs';
import type * as Tls from 'node:tls';

/**
 * NODE_EXTRA_CA_CERTS, deferred to the first TLS connection.
 *
 * Node 20 reads and parses the file NODE_EXTRA_CA_CERTS names when the process starts, and builds its
 * bundled root store with it, whether the process speaks TLS or not (nodejs/node#40524; later Node
 * versions load certificates only once TLS is used, nodejs/node#59856). Measured on these machines: `node
 * -e 0` takes 24 ms without it, 41 ms with one extra certificate, 58 ms with the system bundle many images
 * set. Most commands only speak plain HTTP to the workspace's server on 127.0.0.1, so the `trellis`
 * launcher (dist/cli.js's `env -S` shebang, see esbuild.mjs) starts node with the variable empty and its
 * value moved to TRELLIS_DEFERRED_CA_CERTS. This puts it back: in the environment, for every process the
 * command starts, and in every TLS context this process creates without its own `ca`, as Node would have.
 */
export const DEFERRED_CA_CERTS = 'TRELLIS_DEFERRED_CA_CERTS';

type CreateSecureContext = typeof Tls.createSecureContext;
type SecureContextOptions = Parameters<CreateSecureContext>[0];

export function restoreDeferredCaCerts(): void {
  const file = takeDeferredCaCerts(process.env);
  if (!file) return;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tls = require('node:tls') as typeof Tls;
  tls.createSecureContext = withExtraCaCerts(tls.createSecureContext, file, (message) => process.emitWarning(message));
}

/** Puts NODE_EXTRA_CA_CERTS back as the user had it (or unset) and returns the file the launcher deferred. */
export function takeDeferredCaCerts(env: NodeJS.ProcessEnv): string | undefined {
  if (!(DEFERRED_CA_CERTS in env)) return undefined;
  const file = env[DEFERRED_CA_CERTS];
  delete env[DEFERRED_CA_CERTS];
  if (file) env.NODE_EXTRA_CA_CERTS = file;
  // The launcher sets both, empty, when the user had none: children see it unset, as the user left it.
  else delete env.NODE_EXTRA_CA_CERTS;
  return file || undefined;
}

/**
 * createSecureContext that adds the certificates of `file` to the default root store of every context
 * made without a `ca` of its own (an explicit `ca` replaces the roots, extra ones included, as in Node).
 * The file is read on the first such context; an unreadable one is warned about once and ignored, as
 * Node does at start-up.
 */
export function withExtraCaCerts(create: CreateSecureContext, file: string, warn: (message: string) => void): CreateSecureContext {
  let pem: string | null | undefined;
  const extraPem = (): string | null => {
    if (pem !== undefined) return pem;
    try {
      pem = readFileSync(file, 'utf8');
    } catch (err) {
      pem = null;
      warn(`Ignoring extra certs from \`${file}\`, load failed: ${(err as Error).message}`);
    }
    return pem;
  };
  return (options?: SecureContextOptions) => {
    const context = create(options);
    const extra = options?.ca === undefined ? extraPem() : null;
    if (!extra) return context;
    try {
      // `context.context` is the native SecureContext; addCACert adds to this context's own copy of the roots.
      (context.context as { addCACert(pem: string): void }).addCACert(extra);
    } catch (err) {
      pem = null;
      warn(`Ignoring extra certs from \`${file}\`, load failed: ${(err as Error).message}`);
    }
    return context;
  };
}
