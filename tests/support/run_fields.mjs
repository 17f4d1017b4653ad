// The browser module's field rules under Node, for the differential tests (tests/test_rule_table.py): reads
// {table, unit, cases: [{register, values}]} (table: `sendemodul profiles export`; unit: {kommunenr, bydel, orgnr})
// on stdin and writes, per case, the field findings [{field, rule, control, message}] as JSON on stdout.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const { compileFieldRules } = await import(pathToFileURL(join(here, "..", "..", "sendemodul", "browser", "src", "fields.js")));
const { table, unit, cases } = JSON.parse(readFileSync(0, "utf8"));
const compiled = {};
for (const profile of table.profiles) compiled[profile.register] = compileFieldRules(profile, unit, table);
process.stdout.write(JSON.stringify(cases.map(({ register, values }) => compiled[register](values))));
