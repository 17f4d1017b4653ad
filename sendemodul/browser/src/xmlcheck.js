// The whole check of an XML extract (IPLOS; 15F's generic rules) as `sendemodul check` runs it
// (sendemodul/profiles/rules/xml_records.py over checker.py: the reference), from the exported XML profile: the
// header's attributes, every attribute of the record element and its child elements against the schema (known,
// order, counts, text), the field rules (fields.js), the consistency rules (requires, any_of, date_order, data in the
// profile), no ID number anywhere but in the identifier attributes (ID_IN_DATA), then the identifier rules and the
// duplicates of checks.js; for 15F (a profile whose `controls` is "barnevern") SSB's controls over each Individ from
// the profile's own table (elementrules.js, given the facts of barnevern.js) and every finding as SSB's control.

import { ageIn, dufState, fnrState, headerControl, recordControl } from "./barnevern.js";
import { identityRules, startCheck } from "./checks.js";
import { loadElementRules } from "./elementrules.js";
import { newReport, reportTitles } from "./report.js";
import { compileFieldRules, parseDate, pyRepr } from "./fields.js";
import { XmlError, oneLine, pyStrip, reparsesUnchanged, resolveNamespaces, scanExtract, splitRecord } from "./xml.js";

const DIGIT_RUN = /(?<![0-9])(?:[0-9]{11}|[0-9]{12})(?![0-9])/g;
const VALID = new Set(["FNR", "DNR", "HNR", "SYNTHETIC", "DUF", "PLACEHOLDER"]);
const DIGITS = /^[0-9]+$/;
const SEVERITIES = ["FATAL", "ERROR", "WARNING", "INFO"];
// Our rules that say a record does not follow the schema (xml_records.XmlRules.STRUCTURE): an Individ with one gets
// no barnevern control (SSB runs them only on an individ that its XSD accepts).
const STRUCTURE = new Set(["SCHEMA", "MANDATORY", "LENGTH", "CODE", "INTEGER", "DATE"]);

const first40 = (name) => [...name].slice(0, 40).join("");
const attr = (node, name) => {
  const found = node.attrs.find(([k]) => k === name);
  return found ? found[1] : undefined;
};

// The consistency rules of one element as functions of its values (consistency.py's compile_rules); `label`
// prefixes the field a finding names (`Tjeneste/@`).
function compileConsistency(rules, dateFormats, label) {
  return rules.map((rule) => {
    if (rule.kind === "requires") {
      const ifValues = new Set(rule.if_values);
      return [rule.id, rule.severity, label + rule.field, (values) => {
        const condition = values[rule.if_field] ?? "";
        if (!ifValues.has(condition)) return null;
        const value = values[rule.field] ?? "";
        if (!value) return `${rule.field} must be filled in when ${rule.if_field} is ${condition}`;
        if (rule.positive && !(DIGITS.test(value) && Number(value) > 0)) {
          return `${rule.field} must be more than 0 when ${rule.if_field} is ${condition}`;
        }
        return null;
      }];
    }
    if (rule.kind === "any_of") {
      const message = `at least one of ${rule.fields.join(" and ")} must be filled in`;
      return [rule.id, rule.severity, null, (values) => (rule.fields.some((name) => values[name]) ? null : message)];
    }
    const message = `${rule.earlier} is after ${rule.later}`;
    const key = (d) => d.year * 10000 + d.month * 100 + d.day;
    return [rule.id, rule.severity, label + rule.later, (values) => {
      const a = parseDate(values[rule.earlier] ?? "", dateFormats[rule.earlier]);
      const b = parseDate(values[rule.later] ?? "", dateFormats[rule.later]);
      return a !== null && b !== null && key(a) > key(b) ? message : null;
    }];
  });
}

const dateFormats = (fields) => Object.fromEntries(fields.filter((f) => f.format).map((f) => [f.name, f.format]));

// A check of one XML extract: check(bytes) gives the report's records, result, exit_code, counts, rules, omitted and
// findings as `check --format json` has them, and calls onRecord(ids, data) for each record (ids: [[name, value]],
// data: the record element on one line without its identifier attributes), onHeader(line) for the header element.
export function checkXml(profile, unit, table, { allowSynthetic = true, source = null, onRecord = () => {}, onHeader = () => {} } = {}) {
  const { classify, checkRule, dufOk, suffixes } = identityRules(table.identity);
  const idFields = profile.fields.filter((f) => f.id_kind).map((f) => f.name);
  const idKinds = profile.fields.filter((f) => f.id_kind).map((f) => f.id_kind);
  const journalField = profile.fields.find((f) => f.role === "journalnr");
  // 15F: SSB's controls from the profile's table (a table that does not load stops the check here, with its error)
  const rules = profile.controls === "barnevern" ? loadElementRules(profile.element_controls, profile.periode) : null;
  // The identifier and duplicate rules of checks.js; the field rules are run here (with XML's labels). (15F's
  // findings become SSB's controls below, not by checks.js's table of 11CF's.)
  const view = {
    ...profile,
    controls: rules ? null : profile.controls,
    fields: profile.fields.map((f) => (f.id_kind ? f : { ...f, checked: false })),
  };
  const report = newReport(table.max_per_rule, reportTitles(profile, table));
  // 15F (xml_records.XmlRules._add_barnevern and control_of): while the header is checked, its raw attributes;
  // the findings so far of the current record that say it does not follow the schema; its identifier attributes
  // that are not 11 (12) digits (SSB's XSD refuses them: the only ID_INVALID left, the rest is SSB's ID controls').
  let headerValues = null;
  let structure = 0;
  let badFormat = new Set();
  function add(severity, rule, line, journalnr, field, message, control = null, nn = undefined) {
    if (rules) {
      if (rule === "ID_INVALID") {
        if (!badFormat.has(field)) return;
        structure += 1;
      } else if (STRUCTURE.has(rule) && line !== null) structure += 1;
      if (!control) {
        if (headerValues !== null) {
          const name = field ? field.split("@").pop() : null;
          control = headerControl(rules, rule, name, name ? (headerValues.get(name) ?? null) : null);
        } else control = recordControl(rules, rule, field);
      }
    }
    report.add(severity, rule, line, journalnr, field, message, control, nn);
  }
  const checker = startCheck(view, unit, table, null, parseDate, { ...report, add }, { allowSynthetic });
  // The field rules of a list of specs, each labelled (`Tjeneste/@Kode`): values by label.
  const labelled = (fields, prefix) =>
    compileFieldRules({ ...profile, controls: null, fields: fields.map((f) => ({ ...f, name: prefix + f.name })) }, unit, table);
  const recordFields = labelled(profile.fields.filter((f) => !f.id_kind), "");
  const known = new Set(profile.fields.map((f) => f.name));
  const headerFields = labelled(profile.header_fields, `${profile.header_element}/@`);
  const headerKnown = new Set(profile.header_fields.map((f) => f.name));
  const recordConsistency = compileConsistency(
    profile.consistency.filter((r) => r.element === null),
    dateFormats(profile.fields),
    "",
  );
  function compileChildren(children) {
    const kinds = new Map();
    children.forEach((child, index) => {
      kinds.set(child.element, {
        spec: child,
        index,
        known: new Set(child.fields.map((f) => f.name)),
        rules: labelled(child.fields, `${child.element}/@`),
        consistency: compileConsistency(
          profile.consistency.filter((r) => r.element === child.element),
          dateFormats(child.fields),
          `${child.element}/@`,
        ),
        children: compileChildren(child.children),
      });
    });
    return kinds;
  }
  const childKinds = compileChildren(profile.children);

  function looksLikeId(value) {
    for (const [digits] of value.matchAll(DIGIT_RUN)) {
      if (VALID.has(classify(digits, digits.length === 11 ? "fnr" : "duf").idClass)) return true;
    }
    return false;
  }

  function schema(node, knownNames, line, journalnr, where) {
    for (const [name] of node.attrs) {
      if (!knownNames.has(name)) {
        const message = `<${where}> has an attribute ${pyRepr(first40(name))} that the profile does not know`;
        add("ERROR", "SCHEMA", line, journalnr, null, message);
      }
    }
  }

  const fieldValues = (node, prefix) => {
    const values = {};
    for (const [k, v] of node.attrs) values[prefix + k] = pyStrip(v);
    return values;
  };

  function checkHeader(header) {
    headerValues = new Map(header.attrs);
    try {
      checkHeaderOf(header);
    } finally {
      headerValues = null;
    }
  }

  function checkHeaderOf(header) {
    const where = profile.header_element;
    schema(header, headerKnown, null, null, where);
    if (header.children.length || pyStrip(header.text ?? "")) {
      add("ERROR", "SCHEMA", null, null, null, `<${where}> holds attributes only`);
    }
    const values = {};
    for (const [k, v] of header.attrs) values[`${where}/@${k}`] = v;
    for (const p of headerFields(values)) add("ERROR", p.rule, null, null, p.field, `${where}: ${p.message}`);
  }

  function idsInData(element, line, journalnr) {
    const walk = (node) => {
      for (const [name, value] of node.attrs) {
        if (looksLikeId(value)) {
          const message = `${name} holds what looks like a person's ID; IDs belong in ${idFields.join(" or ")}`;
          add("ERROR", "ID_IN_DATA", line, journalnr, node === element ? name : `${node.tag}/@${name}`, message);
        }
      }
      if ((node.text && looksLikeId(node.text)) || (node.tail && looksLikeId(node.tail))) {
        add("ERROR", "ID_IN_DATA", line, null, null, `text in <${node.tag}> holds what looks like a person's ID`);
      }
      node.children.forEach(walk);
    };
    walk(element);
  }

  function consistency(rules, values, line, journalnr) {
    for (const [id, severity, field, violation] of rules) {
      const message = violation(values);
      if (message !== null) add(severity, id, line, journalnr, field, message);
    }
  }

  function checkText(node, longest, line, journalnr) {
    if (node.children.length) add("ERROR", "SCHEMA", line, journalnr, null, `<${node.tag}> must not contain elements`);
    const text = pyStrip(node.text ?? "");
    const length = [...text].length;
    if (!text) add("ERROR", "MANDATORY", line, journalnr, node.tag, `<${node.tag}> is empty`);
    else if (length > longest) {
      const message = `<${node.tag}> is ${length} characters long; at most ${longest} are allowed`;
      add("ERROR", "LENGTH", line, journalnr, node.tag, message);
    }
  }

  function checkChildren(element, kinds, line, journalnr) {
    const counts = new Map();
    let last = -1;
    for (const child of element.children) {
      if (pyStrip(child.tail ?? "")) {
        add("ERROR", "SCHEMA", line, journalnr, null, `<${element.tag}> holds text between its elements`);
      }
      const entry = kinds.get(child.tag);
      if (entry === undefined) {
        const message = `<${element.tag}> has a child element <${first40(child.tag)}> that the profile does not know`;
        add("ERROR", "SCHEMA", line, journalnr, null, message);
        continue;
      }
      if (entry.index < last) {
        const order = [...kinds.keys()].map((k) => `<${k}>`).join(", ");
        const message = `<${element.tag}>: <${child.tag}> comes after an element it must come before (the order is ${order})`;
        add("ERROR", "SCHEMA", line, journalnr, null, message);
      }
      last = Math.max(last, entry.index);
      counts.set(child.tag, (counts.get(child.tag) || 0) + 1);
      schema(child, entry.known, line, journalnr, child.tag);
      if (entry.spec.text !== null) {
        checkText(child, entry.spec.text, line, journalnr);
        continue;
      }
      if (pyStrip(child.text ?? "")) add("ERROR", "SCHEMA", line, journalnr, null, `<${child.tag}> must not hold text`);
      for (const p of entry.rules(fieldValues(child, `${child.tag}/@`))) add("ERROR", p.rule, line, journalnr, p.field, p.message);
      if (entry.consistency.length) consistency(entry.consistency, fieldValues(child, ""), line, journalnr);
      if (entry.children.size || child.children.length) checkChildren(child, entry.children, line, journalnr);
    }
    for (const [tag, entry] of kinds) {
      const count = counts.get(tag) || 0;
      if (count < entry.spec.min) {
        add("ERROR", "MANDATORY", line, journalnr, null, `<${element.tag}> must have at least ${entry.spec.min} <${tag}>`);
      } else if (entry.spec.max !== null && count > entry.spec.max) {
        add("ERROR", "SCHEMA", line, journalnr, null, `<${element.tag}> may have at most ${entry.spec.max} <${tag}>`);
      }
    }
  }

  function checkRecord(line, parsed) {
    let element = parsed;
    structure = 0;
    // identifier attributes that are there but blank (XmlExtract._record's blank_ids)
    const blankIds = idFields.filter((name) => parsed.attrs.some(([k, v]) => k === name && !pyStrip(v))).sort();
    const [ids, data] = splitRecord(element, idFields); // the identifiers leave it: what stays goes to SSB
    let journalnr = journalField ? pyStrip(attr(element, journalField.name) ?? "") || null : null;
    if (!reparsesUnchanged(element)) {
      try {
        element = resolveNamespaces(element);
      } catch (error) {
        // (the CLI stops on such a record with an error; the page refuses the extract on it)
        throw new XmlError(line, error.message);
      }
    }
    if (journalnr !== null && looksLikeId(journalnr)) journalnr = null; // never shown; ID_IN_DATA reports it
    idsInData(element, line, journalnr);
    schema(element, known, line, journalnr, profile.record);
    if (pyStrip(element.text ?? "")) {
      add("ERROR", "SCHEMA", line, journalnr, null, `<${profile.record}> holds attributes and elements only, no text`);
    }
    const attrs = fieldValues(element, "");
    for (const p of recordFields(attrs)) add("ERROR", p.rule, line, journalnr, p.field, p.message);
    checkChildren(element, childKinds, line, journalnr);
    const values = { ...attrs, ...Object.fromEntries(ids) };
    let facts = null;
    if (rules) {
      facts = { periode: profile.periode, kommunenr: unit.kommunenr, age: null, fnr: "none", duf: "none" };
      let fnr = "";
      badFormat = new Set();
      ids.forEach(([name, value], i) => {
        let state;
        if (idKinds[i] === "fnr") {
          fnr = value;
          state = facts.fnr = fnrState(value, checkRule, suffixes);
        } else state = facts.duf = dufState(value, dufOk);
        if (state === "format") badFormat.add(name);
      });
      facts.age = ageIn(fnr, profile.periode);
      for (const name of blankIds) {
        add("ERROR", "SCHEMA", line, journalnr, name, `${name} is there but blank: leave the attribute out or fill it in`);
      }
    }
    checker.record(line, values, journalnr);
    consistency(recordConsistency, values, line, journalnr);
    if (rules && !structure) {
      for (const [id, severity, field, nb, nn] of rules.run(element, facts)) add(severity, id, line, journalnr, field, nb, id, nn);
    }
    return [ids, data];
  }

  function check(bytes) {
    let header = null;
    let headerChecked = false;
    let records = 0;
    const fatal = [];
    scanExtract(bytes, profile, {
      header(element) {
        header = element;
        onHeader(oneLine(element));
      },
      record(line, element) {
        if (fatal.length) return;
        if (!headerChecked) {
          headerChecked = true;
          checkHeader(header);
        }
        const [ids, data] = checkRecord(line, element); // (a record it refuses ends the scan, uncounted)
        records += 1;
        onRecord(ids, data);
      },
      malformed(line, message) {
        fatal.push({ severity: "FATAL", control: "XML", rule: "XML", line, journalnr: null, field: null, message });
      },
    });
    if (fatal.length) {
      report.keepOnlyFatal();
      for (const f of fatal) report.add("FATAL", f.rule, f.line, null, null, f.message, null);
    } else {
      if (!headerChecked) checkHeader(header);
      checker.finish();
    }
    const frame = { register: profile.register, title: profile.title, periode: profile.periode, source, records };
    return report.asDict({ ...frame, unit: `${unit.kommunenr}-${unit.bydel}-${unit.orgnr}` });
  }
  return { check, severities: SEVERITIES };
}
