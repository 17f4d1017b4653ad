// The page: reads the extract and the unit's key from file inputs, runs the checks, hands the work to the Worker
// and offers the container to save. Everything stays in this page: its CSP forbids every connection.

import { checkExtract } from "./checks.js";
import { parseDate } from "./fields.js";
import { renderReport, reportFile } from "./report_view.js";
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

// The check refuses what `sendemodul check` exits 2 for (an ERROR or FATAL finding), as `sendemodul encrypt` does.
const refuses = (report) => report.exit_code === 2;

let lastCheck = null;

// -- The Worker (worker.js): "prepare" splits, sorts and encrypts; "finish" signs and packages ------------------------

// Started with the page, so that it is running when "Kontroller" keeps this thread busy.
const worker = new Worker(
  URL.createObjectURL(new Blob([document.getElementById("worker-source").textContent], { type: "text/javascript" })),
);
let jobs = 0;
const waiting = new Map(); // `${type}:${job}` -> { resolve, reject }
let prepared = null; // the latest job: { job, file, profile, tpf, ssb, today, noWebCrypto, empty, ready, stage }
let shown = null; // the job whose progress the bar shows (from "Krypter" on)

function progressOf(stage, done) {
  const records = lastCheck?.report.records ?? 0;
  const steps = { split: 0.1 + (0.5 * done) / Math.max(records, 1), sorted: 0.6, identities: 0.75, data: 0.95 };
  return Math.round(100 * Math.min(steps[stage], 0.99));
}

function fromWorker({ data }) {
  if (data.type === "progress") {
    if (prepared?.job === data.job) prepared.stage = [data.stage, data.done];
    if (shown === data.job) progress(progressOf(data.stage, data.done));
    return;
  }
  const types = data.type === "error" ? ["prepared", "done"] : [data.type];
  for (const type of types) {
    const waiter = waiting.get(`${type}:${data.job}`);
    waiting.delete(`${type}:${data.job}`);
    if (waiter && data.type === "error") waiter.reject(new Error(data.code));
    else if (waiter) waiter.resolve(data);
  }
}

worker.onmessage = fromWorker;
worker.onerror = (event) => {
  for (const { reject } of waiting.values()) reject(new Error(event.message));
  waiting.clear();
};

function ask(type, message, transfer = []) {
  const answer = new Promise((resolve, reject) => waiting.set(`${type}:${message.job}`, { resolve, reject }));
  answer.catch(() => {}); // a discarded job's failure is nobody's business; the one awaited is still thrown
  worker.postMessage({ type: type === "prepared" ? "prepare" : "finish", ...message }, transfer);
  return answer;
}

const noWebCrypto = () => location.hash === "#uten-webcrypto";
const today = () => new Date().toISOString().slice(0, 10);

// Start splitting, sorting and encrypting ``bytes`` (a copy the Worker owns) for ``profile``; the page signs and
// packages the result at "Krypter" only if the check allows it. Without current keys nothing starts ("Krypter" then
// says why).
function startPreparing(file, profile, bytes, empty) {
  discardPrepared();
  const day = today();
  const tpf = sealingKeys("tpf", day);
  const ssb = sealingKeys("ssb", day);
  if (!tpf.length || !ssb.length) return;
  const job = ++jobs;
  const ready = ask("prepared", { job, extract: bytes, profile, tpf, ssb, empty, noWebCrypto: noWebCrypto() }, [bytes]);
  prepared = { job, file, profile, tpf, ssb, today: day, noWebCrypto: noWebCrypto(), empty, ready, stage: null };
  const entry = prepared;
  ready.catch(() => (entry.failed = true)); // a failed job is prepared anew at the next "Krypter"
}

function discardPrepared() {
  if (prepared) worker.postMessage({ type: "discard", job: prepared.job });
  prepared = null;
}

async function check() {
  performance.mark("kontroller");
  hideReport();
  lastCheck = null;
  try {
    const profile = profileFromForm();
    const unit = unitFromForm();
    const file = $("uttrekk").files[0];
    if (!file) throw new Error("no_extract");
    const bytes = await readBytes(file);
    // the Worker encrypts a copy while this thread checks: both cores at work, as `sendemodul encrypt` checks
    // and encrypts in one pass; a refusing check discards the Worker's result below
    startPreparing(file, profile, bytes.slice(0), false);
    const report =
      profile.kind === "xml" // (15F, IPLOS: xmlcheck.js, 15F's controls from its profile's table)
        ? checkXml(profile, unit, config, { source: file.name }).check(new Uint8Array(bytes))
        : checkExtract(bytes, profile, unit, config, controlsOf(profile), parseDate, { source: file.name });
    lastCheck = { file, profile, report, saved: reportFile(report) };
    if (refuses(report)) discardPrepared();
    showReport();
    const { counts } = report;
    const message = refuses(report)
      ? t("check_fatal", { n: counts.FATAL + counts.ERROR })
      : counts.WARNING
        ? t("check_warnings", { n: counts.WARNING, records: report.records })
        : t("check_ok", { n: report.records });
    status(message, refuses(report));
    performance.mark("kontrollert");
  } catch (error) {
    discardPrepared();
    status(TEXT[lang]["error_" + error.message] ? t("error_" + error.message) : t("error_unexpected", { detail: error.message }), true);
  }
}

// The last check's report in the page's language, with its "Lagre rapporten" link (report_view.js).
function showReport() {
  if (!lastCheck) return;
  const { report, saved } = lastCheck;
  renderReport($("rapport"), report, lang, config.report, t("lagre_rapport"), saved.url, saved.name);
}

function hideReport() {
  if (lastCheck) URL.revokeObjectURL(lastCheck.saved.url);
  $("rapport").replaceChildren();
}

// Is the Worker's latest job the one to package now (the same file, form, keys and day as "Krypter" asks for)?
const preparedFor = (file, profile, empty) =>
  prepared &&
  !prepared.failed &&
  prepared.file === file &&
  prepared.profile === profile &&
  prepared.empty === empty &&
  prepared.today === today() &&
  prepared.noWebCrypto === noWebCrypto();

async function encrypt() {
  performance.mark("krypter");
  $("lagre").hidden = true;
  progress(0);
  try {
    const profile = profileFromForm();
    const unit = unitFromForm();
    const empty = $("ingen-deltakere").checked;
    const file = empty ? null : $("uttrekk").files[0];
    if (!empty && !file) throw new Error("no_extract");
    if (!empty && (!lastCheck || lastCheck.file !== file || lastCheck.profile !== profile)) await check();
    if (!empty && !lastCheck) return; // the check could not run: it said why
    if (!empty && refuses(lastCheck.report)) {
      discardPrepared();
      throw new Error("refused");
    }
    const keyFile = $("nokkel").files[0];
    if (!keyFile) throw new Error("no_key");
    if (!preparedFor(file, profile, empty)) {
      if (!sealingKeys("tpf", today()).length || !sealingKeys("ssb", today()).length) throw new Error("no_current_key");
      startPreparing(file, profile, empty ? new ArrayBuffer(0) : await readBytes(file), empty);
    }
    const job = prepared;
    const keyPem = await keyFile.text();
    status(t("encrypting"));
    shown = job.job;
    if (job.stage) progress(progressOf(...job.stage));
    await job.ready;
    const result = await ask("done", { job: job.job, keyPem, unit, producer: config.producer });
    prepared = null; // packaged once; another "Krypter" encrypts anew (a new container id)
    progress(100);
    // How many X25519/Ed25519 key imports WebCrypto refused (only with "#uten-webcrypto"): the pure-JS path ran.
    document.documentElement.dataset.curveRefusals = String(result.curveRefusals);
    const link = $("lagre");
    link.href = URL.createObjectURL(result.container);
    link.download = `${profile.register}-${profile.periode}-${unit.kommunenr}-${unit.bydel}.tar`;
    link.hidden = false;
    status(t("done", { n: result.records }));
    link.focus();
    performance.mark("lagre");
  } catch (error) {
    progress(0);
    const key = "error_" + error.message;
    status(TEXT[lang][key] ? t(key) : t("error_unexpected", { detail: error.message }), true);
  } finally {
    shown = null;
  }
}

for (const button of document.querySelectorAll("[data-lang]")) {
  button.addEventListener("click", () => {
    lang = button.dataset.lang;
    applyLanguage();
    showReport();
  });
}
$("kontroller").addEventListener("click", check);
$("krypter").addEventListener("click", encrypt);
$("ingen-deltakere").addEventListener("change", () => ($("uttrekk").disabled = $("ingen-deltakere").checked));
applyLanguage();
