import { invalidParameter } from '../../core/errors';

/** One entry of the engine's HostConfig.DeviceRequests, as the Docker API names its fields. */
export interface DeviceRequest {
  Driver: string;
  Count: number;
  DeviceIDs: string[] | null;
  Capabilities: string[][];
  Options: Record<string, string>;
}

const HOW_TO_WRITE = `Use --gpus all, --gpus N (a count), or --gpus device=0,1 (device indexes or GPU UUIDs).`;

/**
 * Parses a `--gpus` value into the device request `docker run --gpus` sends (docker/cli opts/gpus.go):
 * CSV fields, a bare field being the count (`all` = -1), `device=` a list of IDs, `capabilities=`
 * added to `gpu`, `driver=` and `count=`; no count and no devices means one GPU.
 *
 * Two deliberate differences: the driver defaults to `nvidia` (the CLI leaves it empty and the daemon
 * picks the driver registered for the `gpu` capability, which is nvidia's: the same request, said out
 * loud), and an unquoted `device=0,1` means devices 0 and 1. The shell hands us that text as is, where
 * the Docker CLI would read the `1` as a count and the engine refuse "both Count and DeviceIDs".
 */
export function parseGpuRequest(value: string): DeviceRequest {
  const text = value.trim();
  if (text === '') throw invalidParameter(`--gpus needs a value. ${HOW_TO_WRITE}`);
  const fields = mergeDeviceLists(splitCsv(text));
  const request: DeviceRequest = { Driver: 'nvidia', Count: 0, DeviceIDs: null, Capabilities: [['gpu']], Options: {} };
  const seen = new Set<string>();
  for (const field of fields) {
    const at = field.indexOf('=');
    const key = at < 0 ? 'count' : field.slice(0, at).trim();
    const fieldValue = at < 0 ? field : field.slice(at + 1);
    if (seen.has(key)) throw invalidParameter(`--gpus '${value}': '${key}' is given more than once. ${HOW_TO_WRITE}`);
    seen.add(key);
    switch (key) {
      case 'count':
        request.Count = parseCount(fieldValue, value);
        break;
      case 'device':
        request.DeviceIDs = fieldValue.split(',').map((id) => id.trim());
        if (request.DeviceIDs.some((id) => id === '')) throw invalidParameter(`--gpus '${value}': an empty device ID. ${HOW_TO_WRITE}`);
        break;
      case 'driver':
        request.Driver = fieldValue.trim();
        break;
      case 'capabilities':
        request.Capabilities = [[...fieldValue.split(',').map((c) => c.trim()).filter(Boolean), 'gpu']];
        break;
      default:
        throw invalidParameter(`--gpus '${value}': unexpected key '${key}'. ${HOW_TO_WRITE}`);
    }
  }
  if (request.DeviceIDs && seen.has('count')) {
    throw invalidParameter(`--gpus '${value}': give either a count or device IDs, not both. ${HOW_TO_WRITE}`);
  }
  if (!seen.has('count') && !request.DeviceIDs) request.Count = 1;
  return request;
}

function parseCount(text: string, whole: string): number {
  const t = text.trim();
  if (t === 'all') return -1;
  if (!/^\d+$/.test(t) || Number(t) < 1) throw invalidParameter(`--gpus '${whole}': '${t}' is not a GPU count. ${HOW_TO_WRITE}`);
  return Number(t);
}

/** CSV as Go's encoding/csv reads one record: commas split, double quotes group (`""` is a quote). */
function splitCsv(text: string): string[] {
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        current += '"';
        i++;
      } else if (c === '"') quoted = false;
      else current += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(current);
      current = '';
    } else current += c;
  }
  if (quoted) throw invalidParameter(`--gpus '${text}': a quote is not closed. ${HOW_TO_WRITE}`);
  fields.push(current);
  return fields;
}

/** `device=0`, `1` → `device=0,1`: bare IDs right after a device list belong to it. */
function mergeDeviceLists(fields: string[]): string[] {
  const out: string[] = [];
  for (const field of fields) {
    const previous = out[out.length - 1];
    if (previous?.startsWith('device=') && !field.includes('=') && field.trim() !== 'all') out[out.length - 1] = `${previous},${field}`;
    else out.push(field);
  }
  return out;
}
