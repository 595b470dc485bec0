// Copy the prebuilt bpmn-js viewer and its styles into web/static/vendor/bpmn-js, and Chart.js into
// web/static/vendor/chartjs (committed; no CDN).
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, "node_modules", "bpmn-js");
const target = join(here, "..", "static", "vendor", "bpmn-js");
const files = {
  "dist/bpmn-navigated-viewer.production.min.js": "bpmn-navigated-viewer.production.min.js",
  "dist/assets/diagram-js.css": "diagram-js.css",
  "dist/assets/bpmn-js.css": "bpmn-js.css",
  LICENSE: "LICENSE",
};

mkdirSync(target, { recursive: true });
for (const [from, to] of Object.entries(files)) {
  copyFileSync(join(source, from), join(target, to));
}
const { version } = JSON.parse(readFileSync(join(source, "package.json"), "utf8"));
writeFileSync(join(target, "VERSION"), `bpmn-js ${version}\n`);
console.log(`copied bpmn-js ${version} to ${target}`);

// Chart.js for the monitor's charts: its prebuilt UMD file (window.Chart) and licence.
const chartSource = join(here, "node_modules", "chart.js");
const chartTarget = join(here, "..", "static", "vendor", "chartjs");
mkdirSync(chartTarget, { recursive: true });
copyFileSync(join(chartSource, "dist", "chart.umd.min.js"), join(chartTarget, "chart.umd.min.js"));
copyFileSync(join(chartSource, "LICENSE.md"), join(chartTarget, "LICENSE.md"));
const chart = JSON.parse(readFileSync(join(chartSource, "package.json"), "utf8"));
writeFileSync(join(chartTarget, "VERSION"), `chart.js ${chart.version}\n`);
console.log(`copied chart.js ${chart.version} to ${chartTarget}`);
