// The browser module's interpreter of element control tables (sendemodul/browser/src/elementrules.js) under Node,
// for tests/test_15f_rule_table.py: reads {table, cases: [{element, facts}], periode} on stdin (element: {tag, attrs: [[name,
// value]], children, text}) and writes {error} (the table does not load: its message) or {findings: [[[id, severity,
// field, nb, nn], ...] per case]} as JSON.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const { ElementRulesError, loadElementRules } = await import(
  pathToFileURL(join(here, "..", "..", "sendemodul", "browser", "src", "elementrules.js"))
);
const { table, cases, periode = 2026 } = JSON.parse(readFileSync(0, "utf8"));
let out;
try {
  const rules = loadElementRules(table, periode);
  out = { findings: cases.map(({ element, facts }) => rules.run(element, facts)), ids: [...rules.ids].sort() };
} catch (error) {
  if (!(error instanceof ElementRulesError)) throw error;
  out = { error: error.message };
}
process.stdout.write(JSON.stringify(out));
