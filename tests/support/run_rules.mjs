// The browser module's rule interpreter under Node, for the differential tests (tests/test_rule_table.py): reads
// {table, cases: [{register, values}]} (table: `sendemodul profiles export`) on stdin and writes, per case, the
// findings [{severity, id, field, message}] as JSON on stdout.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const { compileControls } = await import(pathToFileURL(join(here, "..", "..", "sendemodul", "browser", "src", "rules.js")));
const { table, cases } = JSON.parse(readFileSync(0, "utf8"));
const compiled = {};
for (const profile of table.profiles) {
  compiled[profile.register] = compileControls(profile, table.controls[profile.register], table.kommuner);
}
process.stdout.write(JSON.stringify(cases.map(({ register, values }) => compiled[register].violations(values))));
