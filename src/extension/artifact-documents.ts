import * as vscode from 'vscode';
import type { Platform } from './platform';

export const ARTIFACT_SCHEME = 'trellis-artifact';
/** Bigger artifacts are not shown inline: an editor tab is the wrong place for them. */
const MAX_INLINE_BYTES = 5 * 1024 * 1024;

/** `trellis-artifact:/<run id>/<artifact path>`: a read-only document with a run artifact's text. */
export function artifactUri(runId: string, path: string): vscode.Uri {
  return vscode.Uri.from({ scheme: ARTIFACT_SCHEME, path: `/${runId}/${path}` });
}

/** Serves run artifacts to editors straight from the server, so nothing is copied to disk. */
export class ArtifactDocuments implements vscode.TextDocumentContentProvider {
  constructor(private readonly platform: Platform) {}

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const [, runId, ...rest] = uri.path.split('/');
    const path = rest.join('/');
    if (!runId || !path) throw new Error(`Not a Trellis artifact address: ${uri.toString()} (expected ${ARTIFACT_SCHEME}:/<run id>/<path>).`);
    const client = this.platform.requireClient();
    const run = await client.getRun(runId);
    const bytes = await client.readArtifact(run.info.artifact_uri, path);
    if (bytes.length > MAX_INLINE_BYTES) return `${path} is ${bytes.length} bytes, too large to show here. It lives under ${run.info.artifact_uri}/${path}.`;
    if (bytes.subarray(0, 8192).includes(0)) return `${path} is a binary file (${bytes.length} bytes). It lives under ${run.info.artifact_uri}/${path}.`;
    return new TextDecoder().decode(bytes);
  }
}
