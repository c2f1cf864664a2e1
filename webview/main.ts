/** The webview bundle (dist/webview.js): starts the view the panel's page names in `data-panel`. */
import 'uplot/dist/uPlot.min.css';
import { assertNever, isPanelKind } from '../src/protocol/common';
import { registerComponents } from './components';
import { startRunDashboard } from './views/run-dashboard';
import { startCompareRuns } from './views/compare-runs';
import { startModelVersions } from './views/model-versions';
import { startLoadTestReport } from './views/load-test-report';
import { startEndpointMonitor } from './views/endpoint-monitor';

const kind = document.body.dataset.panel;
const root = document.getElementById('root')!;
registerComponents();
if (!isPanelKind(kind)) {
  root.textContent = `Unknown Trellis panel '${kind}'.`;
} else {
  switch (kind) {
    case 'runDashboard':
      startRunDashboard(root);
      break;
    case 'compareRuns':
      startCompareRuns(root);
      break;
    case 'modelVersions':
      startModelVersions(root);
      break;
    case 'loadTestReport':
      startLoadTestReport(root);
      break;
    case 'endpointMonitor':
      startEndpointMonitor(root);
      break;
    default:
      assertNever(kind, 'panel');
  }
}
