// A named import: esbuild then bundles only this field of package.json, not its whole `contributes`.
import { version } from '../../package.json';

/** The platform's version, written into server.json and reported by `/api/trellis/info`. */
export const VERSION: string = version;
