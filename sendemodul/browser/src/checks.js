// The whole record check of a fixed-width extract as `sendemodul check` runs it (sendemodul/profiles/rules/checker.py,
// records.py, fixed_records.py: the reference): per record the field rules (fields.js), the identifier rules
// (ID_MISSING, ID_INVALID with the profile's fnr_rule, ID_SYNTHETIC, BIRTHDATE) and SSB's controls (rules.js); at the
// end the duplicates (DUPLICATE_ID, DUPLICATE), the counts of synthetic IDs and placeholders, EMPTY; the report's
// findings capped at `max_per_rule` a rule and counted. The identifiers' constants (check-digit weights, placeholder
// suffixes, the classes, the messages' reasons) come from the exported table. No ID number is ever in a finding.

import { compileFieldRules } from "./fields.js";
import { blank, latin1 } from "./fixed.js";
import { newReport, reportTitles } from "./report.js";

const DIGITS = /^[0-9]+$/;
const PY_WHITESPACE = /^[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;
const MONTH_DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const VALID = new Set(["FNR", "DNR", "HNR", "SYNTHETIC", "DUF", "PLACEHOLDER"]);

const asciiDigits = (text, length) => text.length === length && DIGITS.test(text);

// The identifier rules of sendemodul.identity, over the table's constants.
export function identityRules(constants) {
  const suffixes = new Set(constants.placeholder_suffixes);
  const weighted = (text, weights) => weights.reduce((sum, w, i) => sum + w * (text.charCodeAt(i) - 48), 0);
  // "current", "2032" or null: which check-digit rule 11 ASCII digits satisfy (person_ids.check_rule).
  function checkRule(text) {
    if ((weighted(text, constants.k2_weights) + text.charCodeAt(10) - 48) % 11) return null;
    const k1 = (weighted(text, constants.k1_weights) + text.charCodeAt(9) - 48) % 11;
    if (k1 === 0) return "current";
    return k1 <= 3 ? "2032" : null;
  }
  function validBefore2032(text) {
    if (!asciiDigits(text, 11)) return false;
    if (checkRule(text) === "current") return true;
    const day = Number(text.slice(0, 2));
    const month = Number(text.slice(2, 4));
    return suffixes.has(text.slice(6)) && day >= 1 && day <= 31 && month >= 1 && month <= 12;
  }
  function dufOk(text) {
    if (!asciiDigits(text, 12)) return false;
    return text.slice(10) === String(weighted(text, constants.duf_weights) % 11).padStart(2, "0");
  }
  // {idClass, canonical} as identity.classify_id.
  function classify(raw, kind) {
    const text = DIGITS.test(raw) ? raw : raw.replace(PY_WHITESPACE, "");
    if (!text) return { idClass: "MISSING", canonical: null };
    if (kind === "duf") {
      if (!asciiDigits(text, 12)) return { idClass: "BAD_FORMAT", canonical: null };
      return { idClass: dufOk(text) ? "DUF" : "BAD_CHECKSUM", canonical: text };
    }
    if (!asciiDigits(text, 11)) return { idClass: "BAD_FORMAT", canonical: null };
    let day = Number(text.slice(0, 2));
    let month = Number(text.slice(2, 4));
    const yy = Number(text.slice(4, 6));
    let idClass = "FNR";
    if (day > 40) {
      day -= 40;
      idClass = "DNR";
    }
    if (month > 80) {
      month -= 80;
      idClass = "SYNTHETIC";
    } else if (month > 40) {
      month -= 40;
      if (idClass === "FNR") idClass = "HNR";
    }
    if (!(day > 0 && month > 0 && month <= 12 && day <= (month === 2 && yy % 4 === 0 ? 29 : MONTH_DAYS[month]))) {
      return { idClass: "BAD_DATE", canonical: text };
    }
    if (idClass === "FNR" && suffixes.has(text.slice(6))) return { idClass: "PLACEHOLDER", canonical: text };
    if (checkRule(text) === null) return { idClass: "BAD_CHECKSUM", canonical: text };
    return { idClass, canonical: text };
  }
  return { classify, validBefore2032, checkRule, dufOk, suffixes };
}

// Whether a birth date field (ddMMyyyy or yyyy-MM-dd; not a date: nothing to compare) agrees with a fødselsnummer's
// first six digits (records.birth_matches).
function birthMatches(datePart, birth, format, parseDate) {
  const born = parseDate(birth, format);
  if (born === null) return true;
  const day = Number(datePart.slice(0, 2));
  const month = Number(datePart.slice(2, 4)) % 40;
  const yy = Number(datePart.slice(4, 6));
  return born.day === day && born.month === month && born.year % 100 === yy;
}

// The record rules over one extract: record(line, values) per record (values: field name -> text, padding stripped),
// then finish() for the findings at the end (duplicates, the counts of synthetic IDs and placeholders, EMPTY); every
// finding goes to `report` (report.js).
export function startCheck(profile, unit, table, controls, parseDate, report, { allowSynthetic = true } = {}) {
  const constants = table.identity;
  const messages = constants.messages;
  const { classify, validBefore2032 } = identityRules(constants);
  const distinct = new Set(constants.distinct_classes);
  const birthClasses = new Set(constants.birth_date_classes);
  const fieldProblems = compileFieldRules(profile, unit, table);
  const specs = profile.fields;
  const idSpecs = specs.filter((f) => f.id_kind);
  const journalField = specs.find((f) => f.role === "journalnr");
  const birth = specs.find((f) => f.role === "birthdate" && f.format);
  const noDuplicates = profile.duplicate_skip.includes(unit.kommunenr);
  const uniqueSpecs = noDuplicates ? [] : specs.filter((f) => f.unique);
  const fnrCurrent = profile.fnr_rule === "current";
  const ssbIds = table.ssb_ids || {};

  let records = 0;
  let synthetic = 0;
  let placeholders = 0;
  const journal = new Map();
  // per identifier field and unique field: value -> first line, and the [line, first] of each repeat
  const idSeen = idSpecs.map(() => new Map());
  const uniqueSeen = uniqueSpecs.map(() => new Map());
  const idRepeats = idSpecs.map(() => []);
  const uniqueRepeats = uniqueSpecs.map(() => []);

  const see = (seen, repeats, key, line) => {
    const first = seen.get(key);
    if (first === undefined) seen.set(key, line);
    else repeats.push([line, first]);
  };

  const add = report.add;
  // SSB's control of one of our identifier findings (sosial_ids.ssb_control): none without SSB's controls.
  const controlOf = (rule) => (profile.controls ? ssbIds[rule] || null : null);

  const dupKey = (canonical, values) =>
    profile.duplicate_key.length ? [canonical, ...profile.duplicate_key.map((n) => values[n] ?? "")].join("\t") : canonical;

  function checkIds(line, journalnr, values) {
    idSpecs.forEach((spec, i) => {
      if (!spec.checked) return;
      const name = spec.name;
      const kind = spec.id_kind;
      const raw = values[name] ?? "";
      if (!raw) {
        if (spec.mandatory || (kind === "fnr" && fnrCurrent)) {
          add("ERROR", "ID_MISSING", line, journalnr, name, `${name} must be filled in`, controlOf("ID_MISSING"));
        }
        return;
      }
      const { idClass, canonical } = classify(raw, kind);
      const valid = VALID.has(idClass);
      if (kind === "fnr" && fnrCurrent) {
        if (!validBefore2032(raw)) {
          const reason = valid ? messages.rule_2032 : messages.reasons[idClass] || "it must be 11 digits";
          const message = `${name} is not a valid fødselsnummer (${idClass}): ${reason}`;
          add("ERROR", "ID_INVALID", line, journalnr, name, message, controlOf("ID_INVALID"));
          return;
        }
        if (!valid) {
          if (!noDuplicates) see(idSeen[i], idRepeats[i], dupKey(raw, values), line);
          return;
        }
      }
      if (!valid || canonical === null) {
        const [what, digits] = messages.names[kind];
        const reason = messages.reasons[idClass] || `it must be ${digits} digits`;
        const message = `${name} is not a valid ${what} (${idClass}): ${reason}`;
        add("ERROR", "ID_INVALID", line, journalnr, name, message, controlOf("ID_INVALID"));
        return;
      }
      if (idClass === "SYNTHETIC") {
        if (allowSynthetic) synthetic += 1;
        else {
          const message = `${name} is a synthetic test ID, not a real person's`;
          add("WARNING", "ID_SYNTHETIC", line, journalnr, name, message, controlOf("ID_SYNTHETIC"));
        }
      } else if (idClass === "PLACEHOLDER") placeholders += 1;
      if (distinct.has(idClass) && !noDuplicates) see(idSeen[i], idRepeats[i], dupKey(canonical, values), line);
      if (birth && kind === "fnr" && birthClasses.has(idClass)) {
        if (!birthMatches(canonical.slice(0, 6), values[birth.name] ?? "", birth.format, parseDate)) {
          const message = `${birth.name} does not match the date in ${name}`;
          add("WARNING", "BIRTHDATE", line, journalnr, birth.name, message, controlOf("BIRTHDATE"));
        }
      }
    });
  }

  // (`journalnr`: the record's journalnr where the caller knows it better, as XML's check, which drops one that
  // looks like an ID number)
  function record(line, values, journalnr = journalField ? values[journalField.name] || null : null) {
    records += 1;
    if (journalnr !== null) journal.set(line, journalnr);
    for (const p of fieldProblems(values)) add("ERROR", p.rule, line, journalnr, p.field, p.message, p.control);
    checkIds(line, journalnr, values);
    uniqueSpecs.forEach((spec, i) => {
      const value = values[spec.name] ?? "";
      if (value) see(uniqueSeen[i], uniqueRepeats[i], value, line);
    });
    if (controls) {
      for (const v of controls.violations(values)) add(v.severity, v.id, line, journalnr, v.field, v.message, v.id);
    }
  }

  function finish() {
    for (const [rule, specsOf, repeats] of [
      ["DUPLICATE_ID", idSpecs, idRepeats],
      ["DUPLICATE", uniqueSpecs, uniqueRepeats],
    ]) {
      const all = [];
      repeats.forEach((list, order) => {
        for (const [line, first] of list) all.push([line, order, first, specsOf[order].name]);
      });
      all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      for (const [line, , first, name] of all) {
        add("ERROR", rule, line, journal.get(line) ?? null, name, `${name} is the same as on line ${first}`, controlOf(rule));
      }
    }
    if (synthetic) {
      const message = `${synthetic} identifier(s) are synthetic test IDs: right for a test delivery, refused in production`;
      add("INFO", "ID_SYNTHETIC", null, null, null, message, controlOf("ID_SYNTHETIC"));
    }
    if (placeholders) {
      const message =
        `${placeholders} fødselsnummer are SSB placeholders (birth date + 00100, 00200 or 99999): ` +
        "those people cannot be followed from year to year";
      add("INFO", "ID_PLACEHOLDER", null, null, null, message, controlOf("ID_PLACEHOLDER"));
    }
    if (records === 0) {
      const message =
        "the extract holds no records; if nobody is to be reported, deliver with " +
        "'sendemodul encrypt --empty' (no participants)";
      add("WARNING", "EMPTY", null, null, null, message, controlOf("EMPTY"));
    }
  }
  return { record, finish, add };
}

// A record's values as the controls read them: every field's text with its padding spaces stripped.
function valuesReader(fields) {
  const spans = fields.map((f) => [f.name, f.from - 1, f.from - 1 + f.length]);
  return (text) => {
    const values = {};
    for (const [name, from, to] of spans) {
      let a = from;
      let b = Math.min(to, text.length);
      while (a < b && text.charCodeAt(a) === 32) a += 1;
      while (b > a && text.charCodeAt(b - 1) === 32) b -= 1;
      values[name] = a < b ? text.slice(a, b) : "";
    }
    return values;
  };
}

// The whole check of a fixed-width extract's bytes (ISO-8859-1) for `unit` ({kommunenr, bydel, orgnr}), as
// `sendemodul check --format json` reports it (Report.as_dict; `source` names the file). The lines are read as
// FixedWidthExtract.scan reads them: a blank line is no record; a line with a TAB or of the wrong length is a FATAL
// finding, which drops every other finding and stops every other check (Checker.feed), and is no record.
export function checkExtract(bytes, profile, unit, table, controls, parseDate, { allowSynthetic = true, source = null } = {}) {
  const text = latin1(new Uint8Array(bytes));
  const report = newReport(table.max_per_rule, reportTitles(profile, table));
  const checker = startCheck(profile, unit, table, controls, parseDate, report, { allowSynthetic });
  const controlOf = (rule) => (profile.controls ? (table.ssb_ids || {})[rule] || null : null);
  const valuesOf = valuesReader(profile.fields);
  let fatal = false;
  let records = 0;
  let line = 0;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    line += 1;
    let length = end - start;
    if (length > 0 && text.charCodeAt(end - 1) === 13 && end < text.length) length -= 1;
    const record = text.slice(start, start + length);
    // readline(record_length + 3) in scan: a longer line is too long whatever it holds
    const overlong = end - start >= profile.record_length + 3;
    start = end + 1;
    if (!overlong && blank(record)) continue;
    const tab = overlong ? -1 : record.indexOf("\t");
    let problem = null;
    if (tab >= 0) {
      problem = ["TAB", `the line contains a TAB character (column ${tab + 1}); fields are padded with spaces`];
    } else if (length !== profile.record_length) {
      const message = `the line is ${length} characters long; a ${profile.register} record is exactly ${profile.record_length}`;
      problem = ["RECORD_LENGTH", message];
    }
    if (problem) {
      if (!fatal) report.keepOnlyFatal();
      fatal = true;
      report.add("FATAL", problem[0], line, null, null, problem[1], controlOf(problem[0]));
      continue;
    }
    records += 1;
    if (!fatal) checker.record(line, valuesOf(record));
  }
  if (!fatal) checker.finish();
  const frame = { register: profile.register, title: profile.title, periode: profile.periode, source, records };
  return report.asDict({ ...frame, unit: `${unit.kommunenr}-${unit.bydel}-${unit.orgnr}` });
}
