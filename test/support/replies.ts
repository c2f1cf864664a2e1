import assert from 'node:assert/strict';

export type Reply = { status: number; body: any };

/** Asserts an MLflow error reply: HTTP status, error_code, and optionally the message. */
export function expectError(res: Reply, status: number, code: string, message?: RegExp): void {
  assert.equal(res.status, status, `expected HTTP ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
  assert.equal(res.body?.error_code, code, JSON.stringify(res.body));
  assert.equal(typeof res.body.message, 'string');
  if (message) assert.match(res.body.message, message);
}

/** Asserts HTTP 200 and returns the body. */
export function expectOk(res: Reply): any {
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body;
}

let seq = 0;
/** A name no other test in the process uses. */
export const unique = (prefix: string): string => `${prefix}-${Date.now().toString(36)}-${++seq}`;
