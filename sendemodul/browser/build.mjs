// Builds dist/krypteringsmodul.html: one self-contained file, byte for byte the same on every build of the same
// inputs (no timestamps, no absolute paths, sorted JSON but for a control table's own order). Input: build/input.json, written by
// `sendemodul module build` (the year's keys, the profiles' table, version and source commit).
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const inputPath = process.argv[2] || join(here, "build", "input.json");
const outPath = process.argv[3] || join(here, "dist", "krypteringsmodul.html");
const input = JSON.parse(readFileSync(inputPath, "utf8"));

async function bundle(entry) {
  const result = await esbuild.build({
    entryPoints: [join(here, "src", entry)],
    bundle: true,
    write: false,
    format: "iife",
    target: "es2022",
    minify: true,
    legalComments: "none",
    charset: "utf8",
    absWorkingDir: here,
  });
  return result.outputFiles[0].text;
}

const sha256b64 = (text) => createHash("sha256").update(text, "utf8").digest("base64");
// Text that goes inside <script>: no "</script" can end it early, no "<!--" can start a comment state.
const inScript = (text) => text.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
const escapeHtml = (text) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

// The config's keys sorted, but for an XML profile's control table (`element_controls`), whose `defs` and `let`
// are in the order they are computed (a name is visible only after it: elementrules.js refuses the table otherwise);
// the export writes it in the file's own order, the same on every build.
function sortedJson(value, key = null) {
  if (key === "element_controls") return value;
  if (Array.isArray(value)) return value.map((v) => sortedJson(v));
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortedJson(value[k], k)]));
  }
  return value;
}

const page = inScript(await bundle("page.js"));
const worker = inScript(await bundle("worker.js"));
const style = readFileSync(join(here, "src", "page.css"), "utf8");
const text = JSON.parse(readFileSync(join(here, "src", "text.json"), "utf8"));
const config = sortedJson({
  producer: `krypteringsmodul/${input.version}`,
  keys: input.keys,
  profiles: input.profiles,
  xml_profiles: input.xml_profiles,
  controls: input.controls,
  kommuner: input.kommuner,
  bydeler: input.bydeler,
  ssb_ids: input.ssb_ids,
  field_rules: input.field_rules,
  identity: input.identity,
  max_per_rule: input.max_per_rule,
  report: input.report,
  text,
});
const csp = [
  "default-src 'none'",
  `script-src 'sha256-${sha256b64(page)}'`,
  `style-src 'sha256-${sha256b64(style)}'`,
  "worker-src blob:",
  "connect-src 'none'",
  "img-src 'none'",
  "form-action 'none'",
  "base-uri 'none'",
].join("; ");
const options = [...input.profiles, ...input.xml_profiles]
  .map((p) => `<option value="${p.register}/${p.periode}">${escapeHtml(p.title)} – ${p.periode}</option>`)
  .join("");
const release = escapeHtml(
  `Versjon ${input.version} · kilde ${input.source_commit} · nøkler ${input.keys.map((k) => k.key_id).join(", ")}`,
);
const template = readFileSync(join(here, "src", "page.html"), "utf8");
const parts = { CSP: csp, STYLE: style, OPTIONS: options, RELEASE: release, CONFIG: inScript(JSON.stringify(config)), WORKER: worker, PAGE: page };
const html = template.replace(/@(CSP|STYLE|OPTIONS|RELEASE|CONFIG|WORKER|PAGE)@/g, (_, name) => parts[name]);
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, html);
console.log(`${outPath}: ${Buffer.byteLength(html)} bytes, sha256 ${createHash("sha256").update(html).digest("hex")}`);
