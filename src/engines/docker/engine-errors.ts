/**
 * Docker engine failures as TrellisErrors that say what went wrong and what to do. dockerode reports two
 * shapes: a Node socket error (code ECONNREFUSED / ENOENT / EACCES, syscall 'connect') when the engine
 * cannot be reached, and an HTTP error (statusCode, json.message or the message text) when it answered.
 */
import { TrellisError, type ErrorCode } from '../../core/errors';

export type EngineErrorKind =
  | 'engine-down'
  | 'permission-denied'
  | 'image-missing'
  | 'pull-offline'
  | 'pull-unknown-image'
  | 'pull-auth'
  | 'no-gpu'
  | 'command-not-found'
  | 'bad-mount'
  | 'tls'
  | 'engine';

export class EngineError extends TrellisError {
  constructor(
    code: ErrorCode,
    readonly kind: EngineErrorKind,
    message: string,
    /** What the user can do about it, also part of the message. */
    readonly fix: string,
    /** The engine's own words, kept for logs. */
    readonly engineMessage: string,
  ) {
    super(code, fix ? `${message} ${fix}` : message);
    this.name = 'EngineError';
  }
}

export interface EngineErrorContext {
  /** The engine address (DOCKER_HOST form), named in connection errors. */
  host?: string;
  /** The image an operation was about, named in image errors. */
  image?: string;
  /** True when the operation was a pull: HTTP errors then describe the registry, not the engine. */
  pull?: boolean;
}

interface RawEngineError {
  message?: string;
  code?: string;
  syscall?: string;
  address?: string;
  statusCode?: number;
  json?: { message?: string } | null;
}

/** Node's certificate verification failures (tls.connect's error codes). */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_SIGNATURE_FAILURE', 'EPROTO',
]);

/** Maps any error dockerode produced; an EngineError passes through unchanged. */
export function engineError(err: unknown, context: EngineErrorContext = {}): EngineError {
  if (err instanceof EngineError) return err;
  const e = (err ?? {}) as RawEngineError;
  const where = context.host ?? e.address ?? 'the Docker engine';

  if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT' || e.code === 'ECONNRESET' || e.code === 'EHOSTUNREACH' || e.code === 'ENOTFOUND' || e.code === 'ETIMEDOUT') {
    return new EngineError(
      'TEMPORARILY_UNAVAILABLE',
      'engine-down',
      `No Docker engine answers at ${where} (${e.code}).`,
      'Start the engine (`sudo systemctl start docker`, or run dockerd), or point DOCKER_HOST / --docker-host / the trellis.docker.host setting at a running one.',
      e.message ?? String(err),
    );
  }
  if (e.code && (TLS_CODES.has(e.code) || e.code.startsWith('ERR_TLS_') || e.code.startsWith('ERR_SSL_'))) {
    return new EngineError(
      'UNAUTHENTICATED',
      'tls',
      `TLS with the Docker engine at ${where} failed (${e.code}: ${e.message ?? ''}).`,
      'Check that DOCKER_CERT_PATH holds the engine\'s CA (ca.pem) and a client certificate and key it trusts (cert.pem, key.pem), and that the host name matches the engine\'s certificate.',
      e.message ?? String(err),
    );
  }
  if (e.code === 'EACCES' || e.code === 'EPERM') {
    return new EngineError(
      'PERMISSION_DENIED',
      'permission-denied',
      `Permission denied on the Docker socket ${where}.`,
      'Add your user to the docker group (`sudo usermod -aG docker $USER`, then log in again), run with sudo, or set DOCKER_HOST to an engine you may use (e.g. rootless Docker\'s socket).',
      e.message ?? String(err),
    );
  }

  const text = e.json?.message ?? stripDockerodePrefix(e.message ?? String(err));
  const image = context.image ? `'${context.image}'` : 'the image';

  if (/could not select device driver "?nvidia"?/i.test(text) || /unknown or invalid runtime name: nvidia/i.test(text)) {
    return new EngineError(
      'INVALID_PARAMETER_VALUE',
      'no-gpu',
      'This Docker engine has no GPU support (no NVIDIA device driver).',
      'Run without --gpus to use the CPU, or install the NVIDIA driver and the NVIDIA container toolkit on the engine\'s machine and restart dockerd.',
      text,
    );
  }
  if (context.pull) return pullError(text, image);
  if (e.statusCode === 404 && /no such image/i.test(text)) {
    return new EngineError(
      'RESOURCE_DOES_NOT_EXIST',
      'image-missing',
      `The image ${image} is not on this engine.`,
      'Build it (`trellis images build`, --build DIR) or pull it (`trellis images pull`) first, and check the name and tag.',
      text,
    );
  }
  if (/executable file not found|no such file or directory: unknown/i.test(text) && /exec/i.test(text)) {
    return new EngineError(
      'INVALID_PARAMETER_VALUE',
      'command-not-found',
      `The command is not in the image ${image}: ${text.replace(/^.*exec: /, 'exec: ')}.`,
      'Check the command after `--` and that the image contains it (its PATH, or give the full path).',
      text,
    );
  }
  if (/bind source path does not exist|invalid mount config|invalid volume specification|not a directory/i.test(text)) {
    return new EngineError('INVALID_PARAMETER_VALUE', 'bad-mount', `A mount is not valid: ${text}.`, 'Mount an existing absolute host path as SRC:DST[:ro].', text);
  }
  return new EngineError(e.statusCode && e.statusCode < 500 ? 'BAD_REQUEST' : 'INTERNAL_ERROR', 'engine', `The Docker engine refused: ${text}`, '', text);
}

/** Errors of a pull, whether the HTTP call failed or the progress stream carried an error line. */
export function pullError(text: string, image: string): EngineError {
  if (/unauthorized|authentication required|no basic auth credentials|denied: requested access|incorrect username or password/i.test(text) && !/repository does not exist/i.test(text)) {
    return new EngineError(
      'UNAUTHENTICATED',
      'pull-auth',
      `The registry refused to give ${image} without credentials.`,
      'Log in to the registry (`docker login REGISTRY`) and try again, or use an image you may pull.',
      text,
    );
  }
  if (/manifest unknown|not found|repository does not exist|pull access denied|invalid reference format/i.test(text)) {
    return new EngineError(
      'RESOURCE_DOES_NOT_EXIST',
      'pull-unknown-image',
      `The registry has no image ${image}.`,
      'Check the name and tag (or, for a private repository, `docker login` first).',
      text,
    );
  }
  if (/no such host|dial tcp|i\/o timeout|connection refused|network is unreachable|TLS handshake timeout|temporary failure in name resolution|context deadline exceeded/i.test(text)) {
    return new EngineError(
      'TEMPORARILY_UNAVAILABLE',
      'pull-offline',
      `Cannot pull ${image}: the engine cannot reach its registry (${text}).`,
      'Build the image locally instead (`trellis images build DIR`, or `docker import` a root file system), load it with `docker load`, or run a local registry and pull from it.',
      text,
    );
  }
  return new EngineError('INTERNAL_ERROR', 'engine', `Pulling ${image} failed: ${text}`, '', text);
}

/** dockerode prefixes "(HTTP code 500) server error - " to the engine's text. */
function stripDockerodePrefix(message: string): string {
  return message.replace(/^\(HTTP code \d+\)\s*[^-]*-\s*/, '').trim();
}
