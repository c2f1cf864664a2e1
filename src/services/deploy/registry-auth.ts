/**
 * Credentials for pushing to a registry, as `docker login` stored them in the docker CLI's config
 * ($DOCKER_CONFIG/config.json or ~/.docker/config.json): the engine does not keep them itself, a client
 * sends them with each push. Credential helpers (credsStore, credHelpers) keep them elsewhere and are not
 * run here; a registry behind one fails with what to do.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
}

export type AuthLookup = { auth: RegistryAuth } | { helper: string } | undefined;

/** The registry host of an image or registry setting: `host[:port]` before the first `/`. */
export const registryHost = (registry: string): string => registry.split('/')[0]!;

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
}

export function registryAuth(registry: string, configPath = dockerConfigPath()): AuthLookup {
  let config: { auths?: Record<string, { auth?: string; username?: string; password?: string }>; credsStore?: string; credHelpers?: Record<string, string> };
  try {
    config = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch {
    return undefined; // no docker CLI config: push without credentials
  }
  const host = registryHost(registry);
  const helper = config.credHelpers?.[host];
  if (helper) return { helper: `docker-credential-${helper}` };
  // docker login writes Docker Hub's entry under its legacy URL; other registries under host[:port].
  const entry = config.auths?.[host] ?? config.auths?.[`https://${host}`] ?? config.auths?.[`http://${host}`];
  if (entry?.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { auth: { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), serveraddress: host } };
  }
  if (entry?.username && entry.password) return { auth: { username: entry.username, password: entry.password, serveraddress: host } };
  if (entry && config.credsStore) return { helper: `docker-credential-${config.credsStore}` };
  return undefined;
}
