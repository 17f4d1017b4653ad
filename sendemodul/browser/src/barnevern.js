// 15F: what SSB's barnevern controls (elementrules.js, from the table) are given besides the <Individ> element, read
// from its identifiers as sendemodul/profiles/rules/barnevern_facts.py reads them (the reference): the state of the
// fødselsnummer and the DUF number (never the numbers themselves) and the individ's age; and which of SSB's controls
// a finding of our generic rules stands for (barnevern_ids.py: the table's record_controls, header_controls and
// header_patterns, and two special cases kept as code on both sides).

import { pyStrip } from "./xml.js";

const DIGITS = /^[0-9]+$/;
const asciiDigits = (text, length) => text.length === length && DIGITS.test(text);
const SSB_PLACEHOLDERS = new Set(["00100", "00200", "99999"]);

// fnr_state: "none", "format" (not 11 digits), "mod11" (check digits by the rule before 2032), "placeholder" (SSB's
// birth date + placeholder suffix, any day 1-31 and month 1-12) or "bad". `checkRule` and `suffixes` are checks.js's
// identityRules over the table's constants.
export function fnrState(fnr, checkRule, suffixes) {
  if (!fnr) return "none";
  if (!asciiDigits(fnr, 11)) return "format";
  if (checkRule(fnr) === "current") return "mod11";
  const day = Number(fnr.slice(0, 2));
  const month = Number(fnr.slice(2, 4));
  if (suffixes.has(fnr.slice(6)) && day >= 1 && day <= 31 && month >= 1 && month <= 12) return "placeholder";
  return "bad";
}

// duf_state: "none", "format" (not 12 digits), "valid" (its check pair holds) or "bad".
export function dufState(duf, dufOk) {
  if (!duf) return "none";
  if (!asciiDigits(duf, 12)) return "format";
  return dufOk(duf) ? "valid" : "bad";
}

// age_in: the reporting year minus the birth year in an 11-digit fødselsnummer-like ID, the century from the
// individual number as SSB's control program reads it (its placeholders are of this century unless that puts the
// birth after next year); null for anything else.
export function ageIn(fnr, periode) {
  if (!asciiDigits(fnr, 11)) return null;
  const day = Number(fnr.slice(0, 2)) % 40;
  const month = Number(fnr.slice(2, 4)) % 40;
  const yy = Number(fnr.slice(4, 6));
  const individual = Number(fnr.slice(6, 9));
  if (!(month >= 1 && month <= 12) || day === 0) return null;
  let year;
  if (SSB_PLACEHOLDERS.has(fnr.slice(6))) year = 2000 + yy <= periode + 1 ? 2000 + yy : 1900 + yy;
  else if (individual >= 500 && yy <= 39) year = 2000 + yy;
  else if (individual >= 500 && individual <= 749 && yy >= 54) year = 1800 + yy;
  else if (individual <= 499 || individual >= 900) year = 1900 + yy;
  else year = 2000 + yy;
  return periode - year;
}

// record_control: SSB's control for a finding of our `rule` (on `field`) in an Individ or the file (a `RULE@field`
// entry wins over `RULE`); null: none.
export function recordControl(rules, rule, field) {
  const specific = `${rule}@${field}`;
  if (Object.hasOwn(rules.recordControls, specific) && rules.recordControls[specific]) return rules.recordControls[specific];
  return Object.hasOwn(rules.recordControls, rule) ? rules.recordControls[rule] || null : null;
}

// header_control: the same on Avgiver, its attribute `name` holding `value` (raw): a value not of its pattern's form
// is refused by SSB's XSD (Avgiver01); a Kommunenavn of blanks only passes the XSD but not Avgiver06.
export function headerControl(rules, rule, name, value) {
  const patterns = rules.headerPatterns;
  if (name !== null && Object.hasOwn(patterns, name) && value !== null && value !== undefined && !asciiDigits(value, patterns[name])) {
    return "Avgiver01";
  }
  if (rule === "MANDATORY" && name === "Kommunenavn" && value && !pyStrip(value)) return "Avgiver06";
  return Object.hasOwn(rules.headerControls, rule) ? rules.headerControls[rule] || null : null;
}
