// The browser module's whole record check under Node, for the differential tests (tests/test_rule_table.py): reads
// {table, unit, register, periode, lines, allowSynthetic} (table: `sendemodul profiles export`; lines: the extract's
// record lines, right length, no blank ones) on stdin and writes the report (browser/src/checks.js) as JSON.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = (name) => pathToFileURL(join(here, "..", "..", "sendemodul", "browser", "src", name));
const { startCheck } = await import(src("checks.js"));
const { parseDate } = await import(src("fields.js"));
const { compileControls } = await import(src("rules.js"));
const { table, unit, register, periode, lines, allowSynthetic } = JSON.parse(readFileSync(0, "utf8"));
const profile = table.profiles.find((p) => p.register === register && p.periode === periode);
const controls = profile.controls ? compileControls(profile, table.controls[register], table.kommuner) : null;
const check = startCheck(profile, unit, table, controls, parseDate, { allowSynthetic });
lines.forEach((text, i) => {
  const values = {};
  for (const f of profile.fields) values[f.name] = text.slice(f.from - 1, f.from - 1 + f.length).replace(/^ +| +$/g, "");
  check.record(i + 1, values);
});
process.stdout.write(JSON.stringify(check.finish()));
