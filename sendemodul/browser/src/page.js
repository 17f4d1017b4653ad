// The page: reads the extract and the unit's key from file inputs, runs the checks, hands the work to the Worker
// and offers the container to save. Everything stays in this page: its CSP forbids every connection.

import { startCheck } from "./checks.js";
import { parseDate } from "./fields.js";
import { compileControls } from "./rules.js";
import { checkXml } from "./xmlcheck.js";

const config = JSON.parse(document.getElementById("sendemodul-config").textContent);
const TEXT = config.text;
let lang = document.documentElement.lang === "nn" ? "nn" : "nb";
const t = (key, vars = {}) => TEXT[lang][key].replace(/\{(\w+)\}/g, (_, name) => String(vars[name]));
const $ = (id) => document.getElementById(id);

function applyLanguage() {
  document.documentElement.lang = lang;
  for (const element of document.querySelectorAll("[data-t]")) element.textContent = t(element.dataset.t);
  document.title = t("title");
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === lang));
  }
}

function status(message, isError = false) {
  const region = isError ? $("feil") : $("status");
  (isError ? $("status") : $("feil")).textContent = "";
  region.textContent = message;
  if (isError) region.focus();
}

function progress(value, max = 100) {
  const bar = $("framdrift");
  bar.max = max;
  bar.value = value;
  bar.setAttribute("aria-valuetext", `${Math.round((100 * value) / max)} %`);
}

const readBytes = (file) => file.arrayBuffer();

function unitFromForm() {
  const kommunenr = $("kommunenr").value.trim();
  const bydel = $("bydel").value.trim() || "00";
  const orgnr = $("orgnr").value.trim();
  if (!/^\d{4}$/.test(kommunenr)) throw new Error("kommunenr");
  if (!/^\d{2}$/.test(bydel)) throw new Error("bydel");
  if (!/^\d{9}$/.test(orgnr)) throw new Error("orgnr");
  return { kommunenr, bydel, orgnr };
}

function profileFromForm() {
  const [register, periode] = $("skjema").value.split("/");
  const profiles = [...config.profiles, ...(config.xml_profiles || [])];
  const profile = profiles.find((p) => p.register === register && String(p.periode) === periode);
  if (!profile) throw new Error("skjema");
  return profile;
}

// The keys a part of ``role`` is sealed to today: the current ones, and of those only the post-quantum ones if
// there are any (as KeyDirectory.sealing_keys).
function sealingKeys(role, today) {
  const current = config.keys.filter((k) => k.role === role && k.valid_from <= today && today <= k.valid_to);
  const pq = current.filter((k) => k.recipient.startsWith("age1pq1"));
  return pq.length ? pq : current;
}

// SSB's controls of a profile's register (the built-in rule table, the same the CLI runs), compiled once.
const compiledControls = new Map();
function controlsOf(profile) {
  const key = `${profile.register}/${profile.periode}`;
  if (!compiledControls.has(key)) {
    const table = profile.controls ? config.controls[profile.register] : null;
    compiledControls.set(key, table ? compileControls(profile, table, config.kommuner) : null);
  }
  return compiledControls.get(key);
}

// The record's values as the controls read them: every field's text with its padding spaces stripped.
function recordValues(slice, fields) {
  let text = "";
  for (let at = 0; at < slice.length; at += 0x8000) text += String.fromCharCode.apply(null, slice.subarray(at, at + 0x8000));
  const values = {};
  for (const f of fields) values[f.name] = text.slice(f.from - 1, f.from - 1 + f.length).replace(/^ +| +$/g, "");
  return values;
}

// The whole check of the extract (checks.js: field rules, identifier rules, SSB's controls, duplicates, the counts),
// as `sendemodul check --format json` reports it; a FATAL finding of the file's shape stops every other check.
function structuralReport(bytes, profile, unit) {
  const fatal = [];
  const checker = startCheck(profile, unit, config, controlsOf(profile), parseDate);
  let records = 0;
  let line = 0;
  let start = 0;
  const data = new Uint8Array(bytes);
  while (start < data.length) {
    let end = data.indexOf(10, start);
    if (end < 0) end = data.length;
    line += 1;
    let length = end - start;
    if (length > 0 && data[end - 1] === 13 && end < data.length) length -= 1;
    const slice = data.subarray(start, start + length);
    start = end + 1;
    if (slice.every((b) => b === 32 || b === 13)) continue;
    records += 1;
    const tab = slice.indexOf(9);
    if (tab >= 0) fatal.push({ severity: "FATAL", rule: "TAB", line, column: tab + 1 });
    else if (length !== profile.record_length) fatal.push({ severity: "FATAL", rule: "RECORD_LENGTH", line, length });
    else if (!fatal.length) checker.record(line, recordValues(slice, profile.fields));
  }
  if (fatal.length) return { records, findings: fatal };
  return checker.finish();
}

const refuses = (report) => report.findings.some((f) => f.severity === "ERROR" || f.severity === "FATAL");

let lastCheck = null;

async function check() {
  lastCheck = null;
  $("rapport").replaceChildren();
  try {
    const profile = profileFromForm();
    const unit = unitFromForm();
    const file = $("uttrekk").files[0];
    if (!file) throw new Error("no_extract");
    const bytes = await readBytes(file);
    // XML (IPLOS): xmlcheck.js; 15F's barnevern controls are not in the page's rule table yet
    if (profile.controls === "barnevern") throw new Error("barnevern_not_yet");
    const report = profile.kind === "xml" ? checkXml(profile, unit, config).check(new Uint8Array(bytes)) : structuralReport(bytes, profile, unit);
    showReport(report);
    lastCheck = { file, profile, report };
    const refused = refuses(report);
    const message = refused
      ? t("check_fatal", { n: report.findings.filter((f) => f.severity === "ERROR" || f.severity === "FATAL").length })
      : report.findings.length
        ? t("check_warnings", { n: report.findings.length, records: report.records })
        : t("check_ok", { n: report.records });
    status(message, refused);
  } catch (error) {
    const key = "error_" + error.message;
    status(TEXT[lang][key] ? t(key) : t("error_unexpected", { detail: error.message }), true);
  }
}

function showReport(report) {
  const out = $("rapport");
  if (!report.findings.length) return;
  const list = document.createElement("ul");
  for (const finding of report.findings.slice(0, 100)) {
    const item = document.createElement("li");
    const key = finding.message === undefined ? "finding_" + finding.rule : finding.line === null ? "finding_extract" : "finding_control";
    item.textContent = t(key, finding) + ` [${finding.rule}]`;
    item.dataset.control = finding.rule;
    if (finding.line !== null) item.dataset.line = String(finding.line);
    item.dataset.severity = finding.severity;
    list.append(item);
  }
  out.append(list);
}

let worker = null;

async function encrypt() {
  $("lagre").hidden = true;
  progress(0);
  try {
    const profile = profileFromForm();
    const unit = unitFromForm();
    const empty = $("ingen-deltakere").checked;
    const file = $("uttrekk").files[0];
    if (!empty && !file) throw new Error("no_extract");
    if (!empty && (!lastCheck || lastCheck.file !== file || lastCheck.profile !== profile)) await check();
    if (!empty && !lastCheck) return; // the check could not run: it said why
    if (!empty && refuses(lastCheck.report)) throw new Error("refused");
    const keyFile = $("nokkel").files[0];
    if (!keyFile) throw new Error("no_key");
    const today = new Date().toISOString().slice(0, 10);
    const tpf = sealingKeys("tpf", today);
    const ssb = sealingKeys("ssb", today);
    if (!tpf.length || !ssb.length) throw new Error("no_current_key");
    const extract = empty ? new ArrayBuffer(0) : await readBytes(file);
    const keyPem = await keyFile.text();
    const records = empty ? 0 : lastCheck.report.records;
    status(t("encrypting"));
    worker ??= new Worker(URL.createObjectURL(new Blob([document.getElementById("worker-source").textContent], { type: "text/javascript" })));
    const result = await new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => {
        if (data.type === "progress") {
          const steps = { split: 0.1 + (0.5 * data.done) / Math.max(records, 1), sorted: 0.6, identities: 0.75, data: 0.95 };
          progress(Math.round(100 * Math.min(steps[data.stage], 0.99)));
        } else if (data.type === "done") resolve(data);
        else reject(new Error(data.code));
      };
      worker.onerror = (event) => reject(new Error(event.message));
      worker.postMessage(
        { extract, keyPem, unit, profile, tpf, ssb, producer: config.producer, empty, noWebCrypto: location.hash === "#uten-webcrypto" },
        [extract],
      );
    });
    progress(100);
    // How many X25519/Ed25519 key imports WebCrypto refused (only with "#uten-webcrypto"): the pure-JS path ran.
    document.documentElement.dataset.curveRefusals = String(result.curveRefusals);
    const link = $("lagre");
    link.href = URL.createObjectURL(result.container);
    link.download = `${profile.register}-${profile.periode}-${unit.kommunenr}-${unit.bydel}.tar`;
    link.hidden = false;
    status(t("done", { n: result.records }));
    link.focus();
  } catch (error) {
    progress(0);
    const key = "error_" + error.message;
    status(TEXT[lang][key] ? t(key) : t("error_unexpected", { detail: error.message }), true);
  }
}

for (const button of document.querySelectorAll("[data-lang]")) {
  button.addEventListener("click", () => {
    lang = button.dataset.lang;
    applyLanguage();
  });
}
$("kontroller").addEventListener("click", check);
$("krypter").addEventListener("click", encrypt);
$("ingen-deltakere").addEventListener("change", () => ($("uttrekk").disabled = $("ingen-deltakere").checked));
applyLanguage();
