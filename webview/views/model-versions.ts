/** A registered model: versions with aliases, source runs and their key metrics; a version's signature; actions. */
import { assertNever } from '../../src/protocol/common';
import type { ModelSignature, ModelVersionsFromWebview, ModelVersionsState, ModelVersionsToWebview, TensorSpec, VersionRow } from '../../src/protocol/model-versions';
import { append, button, clear, dataGrid, el, link, tag, type Cell, showError } from '../components';
import { connect } from '../host';
import { formatNumber, formatTime } from '../format';

export function startModelVersions(root: HTMLElement): void {
  let state: ModelVersionsState | undefined;
  let model: Extract<ModelVersionsToWebview, { type: 'model' }> | undefined;
  const signatures = new Map<string, { signature: ModelSignature | null; reason?: string }>();

  const host = connect<ModelVersionsToWebview, ModelVersionsFromWebview, ModelVersionsState>((m) => {
    switch (m.type) {
      case 'model': {
        const saved = host.restored();
        model = m;
        const known = (v: string | undefined) => v !== undefined && m.versions.some((x) => x.version === v);
        const selected = known(state?.selected) ? state!.selected : known(saved?.selected) && saved?.model === m.name ? saved!.selected : m.versions[0]?.version;
        state = { model: m.name, ...(selected ? { selected } : {}) };
        host.save(state);
        signatures.clear();
        render();
        if (selected) host.post({ type: 'selectVersion', version: selected });
        return;
      }
      case 'signature':
        signatures.set(m.version, { signature: m.signature, ...(m.reason ? { reason: m.reason } : {}) });
        return renderDetails();
      case 'error':
        return showError(root, m.message);
      default:
        assertNever(m);
    }
  });

  const details = el('section', { class: 'details' });

  function select(version: string): void {
    state = { ...state!, selected: version };
    host.save(state);
    renderDetails();
    if (!signatures.has(version)) host.post({ type: 'selectVersion', version });
  }

  function aliasCell(row: VersionRow): Cell {
    const node = el('span', { class: 'aliases' });
    for (const alias of row.aliases) {
      const remove = el('span', { class: 'alias-remove', title: `Remove @${alias}`, role: 'button' }, '×');
      remove.addEventListener('click', (e) => {
        e.stopPropagation();
        host.post({ type: 'removeAlias', alias });
      });
      node.appendChild(el('span', {}, tag(`@${alias}`), remove));
    }
    return { text: row.aliases.map((a) => `@${a}`).join(' '), node };
  }

  function render(): void {
    if (!model) return;
    const m = model;
    clear(root);
    const rows: Cell[][] = m.versions.map((v) => [
      { text: `v${v.version}`, onClick: () => select(v.version), className: v.version === state?.selected ? 'differs' : undefined, title: 'Show this version\'s details' },
      aliasCell(v),
      v.runId
        ? { text: v.runName ?? v.runId, node: link(v.runName ?? v.runId, () => host.post({ type: 'openRun', runId: v.runId! }), `Open the dashboard of run ${v.runId}`) }
        : '—',
      ...m.metricKeys.map((k) => formatNumber(v.metrics[k])),
      formatTime(v.createdAt),
      v.status,
    ]);
    append(
      root,
      el('h1', {}, m.name),
      m.description ? el('p', {}, m.description) : null,
      el('div', { class: 'toolbar' }, button('Refresh', () => host.post({ type: 'refresh' }))),
      m.versions.length
        ? dataGrid(['Version', 'Aliases', 'Source run', ...m.metricKeys, 'Created', 'Status'], rows, {
            widths: ['0.6fr', '1.4fr', '1.6fr', ...m.metricKeys.map(() => '1fr'), '1.4fr', '1fr'],
          })
        : el('p', { class: 'muted' }, 'No versions yet: register one from a run.'),
      details,
    );
    renderDetails();
  }

  function renderDetails(): void {
    clear(details);
    const v = model?.versions.find((x) => x.version === state?.selected);
    if (!model || !v) return;
    const actions = el(
      'div',
      { class: 'toolbar' },
      button('Set alias…', () => host.post({ type: 'setAlias', version: v.version }), 'primary'),
      button(model.canServe ? 'Serve' : 'Serve…', () => host.post({ type: 'serve', version: v.version }), 'secondary', model.canServe ? `Serve version ${v.version}` : 'Shows the command that serves it'),
      v.runId ? button('Open source run', () => host.post({ type: 'openRun', runId: v.runId! })) : null,
    );
    const sig = signatures.get(v.version);
    append(
      details,
      el('h2', {}, `Version ${v.version}`),
      actions,
      dataGrid(['Field', 'Value'], [
        ['Source', v.source],
        ['Lineage', v.runId ? `run ${v.runName ?? ''} (${v.runId}) · ${v.runStatus ?? 'unknown status'}` : 'no source run'],
        ['Stage', v.stage],
        ['Created', formatTime(v.createdAt)],
        ['Description', v.description || '—'],
      ], { widths: ['1fr', '4fr'] }),
      el('h2', {}, 'Signature'),
      !sig ? el('p', { class: 'muted' }, 'Reading the ONNX file…') : sig.signature ? signatureTable(sig.signature) : el('p', { class: 'muted' }, `No signature: ${sig.reason ?? 'unknown reason'}`),
    );
  }

  function signatureTable(s: ModelSignature): HTMLElement {
    const shape = (t: TensorSpec) => `[${t.shape.map((d, i) => (d >= 0 ? String(d) : (t.dimNames?.[i] ?? '?'))).join(', ')}]`;
    const rows: Cell[][] = [
      ...s.inputs.map((t): Cell[] => ['input', t.name, t.datatype, shape(t)]),
      ...s.outputs.map((t): Cell[] => ['output', t.name, t.datatype, shape(t)]),
    ];
    return el('div', { class: 'signature' }, el('p', { class: 'muted' }, `From ${s.source}`), dataGrid(['', 'Name', 'Type', 'Shape'], rows, { widths: ['0.6fr', '2fr', '1fr', '2fr'] }));
  }
}
