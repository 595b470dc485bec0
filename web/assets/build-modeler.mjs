// Build the analyst's modeler into web/static/vendor/modeler (committed; no CDN, no request to another host).
// One ES module bundle (bpmn-js Modeler, properties panel, dmn-js, CodeMirror 6), the style sheets and
// icon fonts they need, the licence of every package that ends up in the bundle, and a VERSION file.
import { build } from "esbuild";
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const modules = join(here, "node_modules");
const target = join(here, "..", "static", "vendor", "modeler");

const styles = {
  "diagram-js.css": ["bpmn-js/dist/assets/diagram-js.css"],
  "bpmn-js.css": ["bpmn-js/dist/assets/bpmn-js.css"],
  "properties-panel.css": ["@bpmn-io/properties-panel/dist/assets/properties-panel.css"],
  "dmn-js.css": [
    "dmn-js/dist/assets/dmn-js-shared.css",
    "dmn-js/dist/assets/dmn-js-drd.css",
    "dmn-js/dist/assets/dmn-js-decision-table.css",
    "dmn-js/dist/assets/dmn-js-decision-table-controls.css",
    "dmn-js/dist/assets/dmn-js-literal-expression.css",
    "dmn-js/dist/assets/dmn-js-boxed-expression.css",
    "dmn-js/dist/assets/dmn-js-boxed-expression-controls.css",
  ],
};
// The icon fonts, served from kmop itself (css/*.css refer to ../font/*).
const fonts = { "bpmn-font": "bpmn-js/dist/assets/bpmn-font", "dmn-font": "dmn-js/dist/assets/dmn-font" };

function packageOf(path) {
  const parts = path.split("node_modules/").pop().split("/");
  return parts[0].startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
}

function packageDir(name, inputPath) {
  const prefix = inputPath.slice(0, inputPath.lastIndexOf("node_modules/") + "node_modules/".length);
  return join(here, prefix, name);
}

rmSync(target, { recursive: true, force: true });
mkdirSync(join(target, "licenses"), { recursive: true });

const options = { bundle: true, format: "esm", minify: true, target: "es2020", legalComments: "none" };
const result = await build({
  ...options,
  entryPoints: [join(here, "src", "modeler-entry.js")],
  outfile: join(target, "modeler.bundle.js"),
  metafile: true,
  logLevel: "warning",
});
// bpmn-moddle alone (XML in, XML out; no DOM): runs in node too, for tests/js.
await build({
  ...options,
  entryPoints: [join(here, "src", "moddle-entry.js")],
  outfile: join(target, "bpmn-moddle.bundle.js"),
});

for (const [name, sources] of Object.entries(styles)) {
  const text = sources.map((source) => `/* ${source} */\n${readFileSync(join(modules, source), "utf8")}`);
  writeFileSync(join(target, name), text.join("\n"));
}
for (const [name, source] of Object.entries(fonts)) {
  cpSync(join(modules, source), join(target, name), { recursive: true });
}

// Every package with code in the bundle: its licence file and its version.
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs).filter((path) => path.includes("node_modules/"))) {
  const name = packageOf(input);
  if (!packages.has(name)) packages.set(name, packageDir(name, input));
}
const versions = [];
for (const [name, dir] of [...packages].sort()) {
  const { version, license } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  versions.push(`${name} ${version} (${license})`);
  const file = join(target, "licenses", `${name.replace("/", "__")}.txt`);
  const licence = ["LICENSE", "LICENSE.md", "LICENSE.txt", "LICENSE-MIT.txt", "license"].find((f) => existsSync(join(dir, f)));
  if (licence) copyFileSync(join(dir, licence), file);
  else writeFileSync(file, `${name} ${version}: licence ${license} (the package ships no licence file).\n`);
}
writeFileSync(join(target, "VERSION"), `${versions.join("\n")}\n`);
console.log(`built ${packages.size} packages into ${target}`);
