// The parsing lives in src/protocol (the extension's Endpoints view derives the same figures).
export * from '../src/protocol/prometheus';
