// The browser module's XML reader and check under Node, for the differential tests (tests/test_xml_rule_table.py):
// reads {table, unit, register, periode, extract (base64), allowSynthetic} (table: `sendemodul profiles export`) on
// stdin and writes {report, header, rows} as JSON: the report (browser/src/xmlcheck.js), the header lines and the
// records' [ids, data] as the Worker splits them.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const src = (name) => pathToFileURL(join(here, "..", "..", "sendemodul", "browser", "src", name));
const { checkXml } = await import(src("xmlcheck.js"));
const { table, unit, register, periode, extract, allowSynthetic } = JSON.parse(readFileSync(0, "utf8"));
const profile = table.xml_profiles.find((p) => p.register === register && p.periode === periode);
const header = [];
const rows = [];
const { check } = checkXml(profile, unit, table, {
  allowSynthetic,
  onHeader: (line) => header.push(line),
  onRecord: (ids, data) => rows.push([ids, data]),
});
const report = check(new Uint8Array(Buffer.from(extract, "base64")));
process.stdout.write(JSON.stringify({ report, header, rows }));
