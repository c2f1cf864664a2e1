/**
 * The UI components every view uses. They wrap @vscode/webview-ui-toolkit (themed by VS Code's CSS
 * variables); views import only this folder, so replacing the toolkit is a change here alone.
 */
import {
  provideVSCodeDesignSystem,
  vsCodeButton,
  vsCodeCheckbox,
  vsCodeDataGrid,
  vsCodeDataGridCell,
  vsCodeDataGridRow,
  vsCodeDivider,
  vsCodeDropdown,
  vsCodeLink,
  vsCodeOption,
  vsCodePanels,
  vsCodePanelTab,
  vsCodePanelView,
  vsCodeTextField,
} from '@vscode/webview-ui-toolkit';
import { el } from './dom';

export { el, append, clear, showError } from './dom';

export function registerComponents(): void {
  provideVSCodeDesignSystem().register(
    vsCodeButton(), vsCodeCheckbox(), vsCodeDataGrid(), vsCodeDataGridCell(), vsCodeDataGridRow(), vsCodeDivider(),
    vsCodeDropdown(), vsCodeLink(), vsCodeOption(), vsCodePanels(), vsCodePanelTab(), vsCodePanelView(),
    vsCodeTextField(),
  );
}

export function button(label: string, onClick: () => void, appearance: 'primary' | 'secondary' | 'icon' = 'secondary', title?: string): HTMLElement {
  const b = el('vscode-button', { appearance, title: title ?? label }, label);
  b.addEventListener('click', onClick);
  return b;
}

export function checkbox(label: string, checked: boolean, onChange: (checked: boolean) => void): HTMLElement {
  const c = el('vscode-checkbox', { checked }, label) as HTMLElement & { checked: boolean };
  c.addEventListener('change', () => onChange(c.checked));
  return c;
}

export function dropdown(options: { value: string; label: string }[], value: string, onChange: (value: string) => void, title?: string): HTMLElement {
  // `value` (the initial value) selects the option once the element upgrades.
  const d = el('vscode-dropdown', { title, value }) as HTMLElement & { value: string };
  for (const o of options) d.appendChild(el('vscode-option', { value: o.value, selected: o.value === value }, o.label));
  d.addEventListener('change', () => onChange(d.value));
  return d;
}

export function textField(placeholder: string, value: string, onInput: (value: string) => void): HTMLElement {
  const t = el('vscode-text-field', { placeholder, value }) as HTMLElement & { value: string };
  t.addEventListener('input', () => onInput(t.value));
  return t;
}

/** A labelled range input (the toolkit has no slider); styled by media/panels.css from theme variables. */
export function slider(label: string, min: number, max: number, step: number, value: number, onInput: (value: number) => void): HTMLElement {
  const input = el('input', { type: 'range', min, max, step, value, 'aria-label': label });
  const shown = el('span', { class: 'slider-value' }, value.toFixed(2));
  input.addEventListener('input', () => {
    shown.textContent = Number(input.value).toFixed(2);
    onInput(Number(input.value));
  });
  return el('label', { class: 'slider' }, label, input, shown);
}

/** A label chip. Not the toolkit's vscode-tag: its template carries a style attribute, which the panels' CSP refuses. */
export function tag(text: string, title?: string): HTMLElement {
  return el('span', { class: 'tag', title }, text);
}

export function link(text: string, onClick: () => void, title?: string): HTMLElement {
  const a = el('vscode-link', { title, href: '#' }, text);
  a.addEventListener('click', (e) => {
    e.preventDefault();
    onClick();
  });
  return a;
}

/** A loading note (the toolkit's progress ring sets a style attribute, which the panels' CSP refuses). */
export function loading(text = 'Loading…'): HTMLElement {
  return el('p', { class: 'muted loading' }, text);
}

export function divider(): HTMLElement {
  return el('vscode-divider');
}

export interface Tab {
  id: string;
  label: string;
  content: HTMLElement;
}

/** Tabs whose ids are the caller's; `onChange` gets the id of the tab chosen. */
export function tabs(items: Tab[], active: string, onChange: (id: string) => void): HTMLElement {
  const panels = el('vscode-panels', { activeid: `tab-${active}` }) as HTMLElement & { activeid: string };
  for (const t of items) panels.appendChild(el('vscode-panel-tab', { id: `tab-${t.id}` }, t.label));
  for (const t of items) panels.appendChild(el('vscode-panel-view', { id: `view-${t.id}` }, t.content));
  panels.addEventListener('change', (e) => {
    if (e.target !== panels) return;
    const id = String(panels.activeid ?? '').replace(/^tab-/, '');
    if (id) onChange(id);
  });
  return panels;
}

/** A table cell: text, optionally with a class (e.g. a highlighted difference), a tooltip or an action. */
export type Cell = string | { text: string; className?: string; title?: string; onClick?: () => void; node?: HTMLElement };

/** `widths`: CSS grid track sizes, one per column (default: equal shares). */
export function dataGrid(columns: string[], rows: Cell[][], options: { className?: string; widths?: string[] } = {}): HTMLElement {
  const grid = el('vscode-data-grid', {
    'generate-header': 'none',
    'grid-template-columns': (options.widths ?? columns.map(() => '1fr')).join(' '),
    'aria-label': columns.join(', '),
    class: options.className,
  });
  const header = el('vscode-data-grid-row', { 'row-type': 'sticky-header' });
  columns.forEach((c, i) => header.appendChild(el('vscode-data-grid-cell', { 'cell-type': 'columnheader', 'grid-column': i + 1 }, c)));
  grid.appendChild(header);
  for (const row of rows) {
    const r = el('vscode-data-grid-row');
    row.forEach((cell, i) => {
      const spec = typeof cell === 'string' ? { text: cell } : cell;
      const c = el('vscode-data-grid-cell', { 'grid-column': i + 1, class: spec.className, title: spec.title ?? spec.text }, spec.node ?? spec.text);
      if (spec.onClick) {
        c.classList.add('clickable');
        c.addEventListener('click', spec.onClick);
      }
      r.appendChild(c);
    });
    grid.appendChild(r);
  }
  return grid;
}
