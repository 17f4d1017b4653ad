// The browser module's XML check under Node for many extracts in one process (tests/test_15f_rule_table.py): reads
// {table, register, periode, extracts: [{extract (base64), unit}]} on stdin (table: `sendemodul profiles export`)
// and writes [{report, header, rows}] as JSON, each as tests/support/run_xml_check.mjs writes it for one.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const { checkXml } = await import(pathToFileURL(join(here, "..", "..", "sendemodul", "browser", "src", "xmlcheck.js")));
const { table, register, periode, extracts } = JSON.parse(readFileSync(0, "utf8"));
const profile = table.xml_profiles.find((p) => p.register === register && p.periode === periode);
const out = extracts.map(({ extract, unit }) => {
  const header = [];
  const rows = [];
  const { check } = checkXml(profile, unit, table, {
    onHeader: (line) => header.push(line),
    onRecord: (ids, data) => rows.push([ids, data]),
  });
  const report = check(new Uint8Array(Buffer.from(extract, "base64")));
  return { report, header, rows };
});
process.stdout.write(JSON.stringify(out));
