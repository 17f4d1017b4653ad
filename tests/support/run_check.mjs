// The browser module's whole check under Node, for the differential tests (tests/test_rule_table.py): reads
// {table, unit, register, periode, data, allowSynthetic, source} (table: `sendemodul profiles export`; data: the
// extract's bytes in base64) on stdin and writes the report (browser/src/checks.js, report.js) as the page saves it:
// the bytes of `sendemodul check --format json`.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = (name) => pathToFileURL(join(here, "..", "..", "sendemodul", "browser", "src", name));
const { checkExtract } = await import(src("checks.js"));
const { parseDate } = await import(src("fields.js"));
const { compileControls } = await import(src("rules.js"));
const { toJson } = await import(src("report.js"));
const { table, unit, register, periode, data, allowSynthetic, source } = JSON.parse(readFileSync(0, "utf8"));
const profile = table.profiles.find((p) => p.register === register && p.periode === periode);
const controls = profile.controls ? compileControls(profile, table.controls[register], table.kommuner) : null;
const bytes = Buffer.from(data, "base64");
process.stdout.write(toJson(checkExtract(bytes, profile, unit, table, controls, parseDate, { allowSynthetic, source })));
