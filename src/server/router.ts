import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Fields } from './input';

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** The rest of the path after a prefix route (e.g. the artifact path), URL-decoded. */
  readonly subpath: string;
  /** The query string of a GET, the JSON body otherwise; read once, on first call. */
  fields(): Promise<Fields>;
}

/** A handler's return value is sent as JSON with status 200; `undefined` means it answered itself. */
export type Handler = (ctx: RequestContext) => unknown;

export interface Route {
  /** The label used in metrics: the pattern, never the raw path, so label cardinality stays bounded. */
  readonly name: string;
  readonly handler: Handler;
}

/** A path that exists: its route for the method, if any, and the methods it does answer. */
export interface Match {
  route?: Route;
  allowed: string[];
  subpath: string;
}

/** Exact paths by map lookup, then the longest matching prefix (`/x/*`). */
export class Router {
  private readonly exact = new Map<string, Map<string, Route>>();
  private readonly prefixes: { prefix: string; methods: Map<string, Route> }[] = [];

  on(method: string | string[], path: string, handler: Handler): this {
    const methods = Array.isArray(method) ? method : [method];
    let table: Map<string, Route>;
    if (path.endsWith('/*')) {
      const prefix = path.slice(0, -1);
      let entry = this.prefixes.find((p) => p.prefix === prefix);
      if (!entry) {
        entry = { prefix, methods: new Map() };
        this.prefixes.push(entry);
        this.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
      }
      table = entry.methods;
    } else {
      table = this.exact.get(path) ?? new Map();
      this.exact.set(path, table);
    }
    for (const m of methods) table.set(m, { name: path, handler });
    return this;
  }

  lookup(method: string, path: string): Match | undefined {
    const table = this.exact.get(path);
    if (table) return match(table, method, '');
    const hit = this.prefixes.find((p) => path.startsWith(p.prefix));
    return hit && match(hit.methods, method, path.slice(hit.prefix.length));
  }
}

function match(table: Map<string, Route>, method: string, subpath: string): Match {
  const route = table.get(method) ?? (method === 'HEAD' ? table.get('GET') : undefined);
  return { ...(route ? { route } : {}), allowed: [...table.keys()], subpath };
}
