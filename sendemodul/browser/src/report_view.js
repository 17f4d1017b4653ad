// The report in the page, as `sendemodul check --format html --lang nb|nn` renders it (templates/check-report.html.j2):
// a heading, the register, periode, unit, file and records, the summary, then per control (report.groups) a heading
// with its severity, id, title and count, and a table of the findings listed. The report's own words and the titles
// come from the catalogs through the built-in table (profiles/export.py, report_frame); the rules' messages are shown
// as written, as the CLI does, but for those with a Nynorsk text of their own (15F's controls: the finding's `nn`). Findings name lines and journalnummer, never an ID number. "Lagre rapporten" saves the
// report as `check --format json` writes it (report.js, toJson).

import { toJson } from "./report.js";

const element = (tag, attributes = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
};

// Report.summary in nb or nn.
function summary(report, say) {
  const c = report.counts;
  return say("summary", {
    result: report.result,
    fatal: c.FATAL,
    error: c.ERROR,
    warning: c.WARNING,
    info: c.INFO,
    records: report.records,
    exit_code: report.exit_code,
  });
}

// The report (Report.as_dict) into `out` in `lang`; `frame` is the table's report frame; `saveText` is the page's
// own text for the link that saves it, `blobUrl` the report's JSON (made once, whatever the language).
export function renderReport(out, report, lang, frame, saveText, blobUrl, fileName) {
  const texts = frame.texts[lang];
  const say = (key, values = {}) => texts[key].replace(/\{(\w+)\}/g, (_, name) => String(values[name]));
  const translated = (text) => (lang === "nn" && Object.hasOwn(frame.nn, text) ? frame.nn[text] : text);
  const section = element("section", { "aria-labelledby": "rapport-tittel", class: "report" });
  section.append(element("h2", { id: "rapport-tittel" }, say("html_heading", { title: translated(report.title) })));
  const facts = element("dl");
  const fact = (key, value) => facts.append(element("dt", {}, say(key)), element("dd", {}, String(value)));
  fact("register", report.register);
  fact("periode", report.periode);
  fact("unit", report.unit);
  if (report.source) fact("file_label", report.source);
  fact("records", report.records);
  section.append(facts, element("p", { class: `result ${report.result}` }, summary(report, say)));
  const save = element("a", { id: "lagre-rapport", href: blobUrl, download: fileName }, saveText);
  section.append(element("p", {}, save));
  report.groups.forEach((group, i) => {
    const id = `kontroll-${i}`;
    const title = group.title ? ` ${translated(group.title)}` : "";
    const heading = element(
      "h3",
      { id },
      element("span", { class: group.severity }, group.severity),
      " ",
      element("code", {}, group.control),
      `${title}: ${say("count", { count: group.count })}`,
    );
    const part = element("section", { "aria-labelledby": id }, heading);
    if (group.findings.length) {
      const head = ["line_label", "journalnr", "field", "message", "severity", "rule"];
      const rows = group.findings.map((f) =>
        element(
          "tr",
          {},
          element("td", {}, f.line === null ? say("whole_file") : String(f.line)),
          element("td", {}, f.journalnr || ""),
          element("td", {}, f.field || ""),
          element("td", {}, lang === "nn" && f.nn !== undefined ? f.nn : f.message),
          element("td", { class: f.severity }, f.severity),
          element("td", {}, element("code", {}, f.rule)),
        ),
      );
      const table = element(
        "table",
        {},
        element("thead", {}, element("tr", {}, ...head.map((key) => element("th", { scope: "col" }, say(key))))),
        element("tbody", {}, ...rows),
      );
      // a narrow screen scrolls the table, not the page; the region can be reached and scrolled by keyboard
      part.append(element("div", { class: "table", role: "region", tabindex: "0", "aria-labelledby": id }, table));
    }
    if (group.count > group.findings.length) {
      part.append(element("p", {}, say("more_counted", { n: group.count - group.findings.length })));
    }
    section.append(part);
  });
  out.replaceChildren(section);
}

// The report's JSON as a file to save: a blob: URL (nothing leaves the page) and its name.
export function reportFile(report) {
  const blob = new Blob([toJson(report)], { type: "application/json" });
  const unit = report.unit.split("-").slice(0, 2).join("-");
  return { url: URL.createObjectURL(blob), name: `kontrollrapport-${report.register}-${report.periode}-${unit}.json` };
}
