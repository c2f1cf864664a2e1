/**
 * Chart colors and fonts read from VS Code's theme variables on the page, so charts follow light, dark
 * and high-contrast themes; charts redraw when the theme (the body's class) changes.
 */
export interface ChartTheme {
  foreground: string;
  grid: string;
  font: string;
  /** Distinct series colors: the theme's chart colors, then its terminal colors. */
  palette: string[];
  selection: string;
}

const PALETTE_VARS = [
  '--vscode-charts-blue', '--vscode-charts-orange', '--vscode-charts-green', '--vscode-charts-purple',
  '--vscode-charts-red', '--vscode-charts-yellow', '--vscode-terminal-ansiCyan', '--vscode-terminal-ansiMagenta',
  '--vscode-terminal-ansiBrightBlue', '--vscode-terminal-ansiBrightGreen', '--vscode-terminal-ansiBrightRed', '--vscode-terminal-ansiBrightYellow',
];

export function readChartTheme(): ChartTheme {
  const style = getComputedStyle(document.body);
  const read = (name: string) => style.getPropertyValue(name).trim();
  const foreground = read('--vscode-charts-foreground') || read('--vscode-foreground');
  const palette = PALETTE_VARS.map(read).filter((c) => c !== '');
  return {
    foreground,
    grid: read('--vscode-charts-lines') || read('--vscode-editorWidget-border') || foreground,
    font: `${read('--vscode-font-size') || '12px'} ${read('--vscode-font-family') || 'sans-serif'}`,
    palette: palette.length ? palette : [foreground],
    selection: read('--vscode-editor-selectionBackground') || foreground,
  };
}

/** Calls back when VS Code switches themes (it sets vscode-light / vscode-dark / vscode-high-contrast on body). */
export function onThemeChange(callback: () => void): void {
  new MutationObserver(callback).observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
