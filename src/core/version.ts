import pkg from '../../package.json';

/** The platform's version, written into server.json and reported by `/api/trellis/info`. */
export const VERSION: string = pkg.version;
