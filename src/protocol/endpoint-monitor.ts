/**
 * The endpoint monitor's contract: a model server's live figures. The extension scrapes the server's
 * Prometheus text and its serving control API on an interval; the webview turns consecutive scrapes
 * into rates and percentiles (webview/prometheus.ts).
 */
import type { CommonFromWebview } from './common';

export interface EndpointMonitorState {
  /** A server `trellis serve` announced; absent for the platform server (whose port changes between sessions). */
  url?: string;
  /** Model shown; all when absent. */
  model?: string;
}

/** A traffic route: how requests to a model name split between versions (canary), and a shadow. */
export interface RouteInfo {
  name: string;
  targets: { ref: string; weight: number; version: string | null }[];
  shadow?: { ref: string; version: string | null };
}

export interface FeatureDriftInfo {
  feature: string;
  kind: string;
  psi: number;
  ks?: number;
  pValue?: number;
  rows: number;
  drifted: boolean;
}

export interface DriftInfo {
  name: string;
  version: string;
  inputs: { input: string; rows: number; scored: boolean; features: FeatureDriftInfo[] }[];
}

export type EndpointMonitorToWebview =
  /** `platform`: the scraped server is the platform's own. */
  | { type: 'target'; url: string; platform: boolean; intervalMs: number }
  /** One scrape: Prometheus text at `at` (epoch ms); routes and drift are null where the server has no such API. */
  | { type: 'sample'; at: number; metrics: string; routes: RouteInfo[] | null; drift: DriftInfo[] | null }
  | { type: 'error'; message: string };

export type EndpointMonitorFromWebview = CommonFromWebview | { type: 'selectModel'; model: string | null };
