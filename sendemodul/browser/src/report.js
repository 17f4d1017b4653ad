// The report of a check, as `sendemodul check --format json` writes it (sendemodul/profiles/rules/report.py is the
// reference): the findings listed (at most `max_per_rule` a rule), every finding counted per severity, rule and
// control, and the findings grouped by control under its title. `asDict` has the keys, key order and values of
// Report.as_dict(), and `toJson` its bytes (Report.to_json: two-space indent, non-ASCII as is, a final newline), so a
// report saved from the page is the same file as the CLI's. A finding names a line, never an ID number.

const RANK = { INFO: 1, WARNING: 2, ERROR: 3, FATAL: 4 };
const ORDER = ["FATAL", "ERROR", "WARNING", "INFO"];

// A report being filled: add() every finding in the order found; asDict(frame) at the end.
export function newReport(maxPerRule, titles) {
  let findings = [];
  let severityCounts = {};
  let ruleCounts = new Map();
  let controlCounts = new Map();
  let controlSeverity = new Map();

  function count(finding) {
    const { severity, rule, control } = finding;
    severityCounts[severity] = (severityCounts[severity] || 0) + 1;
    ruleCounts.set(rule, (ruleCounts.get(rule) || 0) + 1);
    controlCounts.set(control, (controlCounts.get(control) || 0) + 1);
    if (RANK[severity] > (RANK[controlSeverity.get(control)] || 0)) controlSeverity.set(control, severity);
  }

  // Report.count and Checker._add: `control` is SSB's control (or null: the rule is its own group); `nn`: the
  // message in Nynorsk where it has one (15F's controls), kept out of the report's JSON (which is Bokmål).
  function add(severity, rule, line, journalnr, field, message, control, nn) {
    const finding = { severity, control: control || rule, rule, line, journalnr, field, message };
    if (nn !== undefined) Object.defineProperty(finding, "nn", { value: nn });
    count(finding);
    if (ruleCounts.get(rule) <= maxPerRule) findings.push(finding);
  }

  // Checker._keep_only_fatal: once the file's shape is wrong, only its FATAL findings stay.
  function keepOnlyFatal() {
    const fatal = severityCounts.FATAL || 0;
    findings = findings.filter((f) => f.severity === "FATAL");
    severityCounts = {};
    ruleCounts = new Map();
    controlCounts = new Map();
    controlSeverity = new Map();
    for (const f of findings) count(f);
    severityCounts = fatal ? { FATAL: fatal } : {};
  }

  const worst = () => ORDER.find((s) => severityCounts[s] > 0) || null;

  // Report.groups: the worst severity first, then in the order each control was first listed (then first counted).
  function groups() {
    const listed = new Map();
    for (const f of findings) {
      if (!listed.has(f.control)) listed.set(f.control, []);
      listed.get(f.control).push(f);
    }
    const order = new Map([...listed.keys()].map((control, i) => [control, i]));
    for (const control of controlCounts.keys()) if (!order.has(control)) order.set(control, order.size);
    return [...controlCounts.entries()]
      .sort(([a], [b]) => RANK[controlSeverity.get(b)] - RANK[controlSeverity.get(a)] || order.get(a) - order.get(b))
      .map(([control, n]) => ({
        control,
        title: Object.hasOwn(titles, control) ? titles[control] : "",
        severity: controlSeverity.get(control),
        count: n,
        findings: listed.get(control) || [],
      }));
  }

  // Report.as_dict, for the frame {register, title, periode, unit, source, records}.
  function asDict({ register, title, periode, unit, source, records }) {
    const found = worst();
    const listedPerRule = new Map();
    for (const f of findings) listedPerRule.set(f.rule, (listedPerRule.get(f.rule) || 0) + 1);
    const byName = ([a], [b]) => (a < b ? -1 : a > b ? 1 : 0);
    return {
      format: "sendemodul-check/1",
      register,
      title,
      periode,
      unit,
      source,
      records,
      result: found || "OK",
      exit_code: found === "ERROR" || found === "FATAL" ? 2 : found === "WARNING" ? 1 : 0,
      counts: Object.fromEntries(ORDER.map((s) => [s, severityCounts[s] || 0])),
      rules: Object.fromEntries([...ruleCounts.entries()].sort(byName)),
      omitted: Object.fromEntries(
        [...ruleCounts.entries()]
          .filter(([rule, n]) => n > (listedPerRule.get(rule) || 0))
          .map(([rule, n]) => [rule, n - (listedPerRule.get(rule) || 0)]),
      ),
      findings,
      groups: groups(),
    };
  }

  return { add, keepOnlyFatal, asDict };
}

// Report.to_json: json.dumps(..., ensure_ascii=False, indent=2) and a newline. The report holds only texts, whole
// numbers and null, whose JSON is the same in both; no key is a whole number (JavaScript would put it first).
export const toJson = (report) => JSON.stringify(report, null, 2) + "\n";

// The titles a profile's report gives its groups (Checker: our rules' titles, then the register's controls', which
// for an XML profile with controls are in its own table).
export function reportTitles(profile, table) {
  const own = profile.element_controls
    ? profile.element_controls.titles
    : profile.controls && table.controls[profile.register]
      ? table.controls[profile.register].titles
      : {};
  return { ...table.report.titles, ...own };
}
