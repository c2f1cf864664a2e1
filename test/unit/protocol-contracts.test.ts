import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { assertNever, isPanelKind, isSystemMetric, PANEL_KINDS, VIEW_TYPES } from '../../src/protocol/common';

const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as { activationEvents: string[]; contributes: { commands: { command: string }[] } };

test('every panel view type activates the extension, so VS Code can restore it after a reload', () => {
  for (const kind of PANEL_KINDS) assert.ok(manifest.activationEvents.includes(`onWebviewPanel:${VIEW_TYPES[kind]}`), `missing onWebviewPanel:${VIEW_TYPES[kind]}`);
});

test('the panel commands are contributed to the palette', () => {
  const commands = manifest.contributes.commands.map((c) => c.command);
  for (const id of ['trellis.openRunDashboard', 'trellis.compareRuns', 'trellis.openModelVersions', 'trellis.openLoadTestReport', 'trellis.openEndpointMonitor']) {
    assert.ok(commands.includes(id), `missing ${id}`);
  }
});

test('a page names its panel kind; anything else is refused', () => {
  assert.equal(isPanelKind('runDashboard'), true);
  assert.equal(isPanelKind('trellis.runDashboard'), false);
  assert.equal(isPanelKind(undefined), false);
});

test('system metrics are the keys under system/', () => {
  assert.equal(isSystemMetric('system/cpu_percent'), true);
  assert.equal(isSystemMetric('val/system'), false);
});

test('a message no switch handled fails loudly, naming it', () => {
  assert.throws(() => assertNever({ type: 'surprise' } as never), /Unexpected message: \{"type":"surprise"\}/);
});
