// The Worker: splits the extract, encrypts identities to the TPF and data to SSB, signs the manifest, and builds the
// container, posting progress as it goes. Nothing here can reach the network: the page's CSP (inherited by this
// blob: worker) says connect-src 'none'.
import { Encrypter } from "age-encryption";
import { canonicalJson, partHeader, rowIds, sha256Hex, tar, utcTimestamp, utf8, uuid4 } from "./container.js";
import { latin1, layout, lines, split } from "./fixed.js";
import { pkcs8FromPem, sign } from "./sign.js";
import { splitXml } from "./xml.js";

const post = (message) => self.postMessage(message);

async function encryptTo(recipients, text) {
  const encrypter = new Encrypter();
  for (const recipient of recipients) encrypter.addRecipient(recipient.recipient);
  return await encrypter.encrypt(utf8(text));
}

// Behave as a browser whose WebCrypto lacks X25519 and Ed25519 (the page's "#uten-webcrypto"): both the age library
// and our signing then take their pure-JS paths (@noble/curves), which must give a container just as valid.
let curveRefusals = 0;
let curvesRefused = false;
function withoutWebCryptoCurves() {
  if (curvesRefused) return;
  curvesRefused = true;
  const subtle = crypto.subtle;
  const importKey = subtle.importKey.bind(subtle);
  const curve = (algorithm) => ["X25519", "Ed25519"].includes(typeof algorithm === "string" ? algorithm : algorithm?.name);
  subtle.importKey = (format, data, algorithm, ...rest) => {
    if (curve(algorithm)) curveRefusals += 1;
    if (curve(algorithm)) return Promise.reject(new DOMException(`${algorithm.name || algorithm} is not supported`, "NotSupportedError"));
    return importKey(format, data, algorithm, ...rest);
  };
}

// The Worker does its work in two messages, so that the page can start the long part while its check still runs
// (the CLI, too, checks and encrypts in one pass):
// - "prepare" (at "Kontroller"): split the extract, sort the rows by row id and encrypt both parts. Encryption needs
//   the recipients and the profile only, not the unit's key.
// - "finish" (at "Krypter", once the check allows it): the manifest, signed with the unit's key, and the container.
// Only the latest job is kept: a new "prepare" or a "discard" (the check refused, the file changed) drops the one
// before, which stops at its next step. Every answer names its job.
let current = null;

const stillCurrent = (job) => {
  if (current?.job !== job) throw new Error("discarded");
};

async function prepare({ job, extract, profile, tpf, ssb, empty }) {
  const containerId = uuid4();
  let rows = [];
  let header = [];
  if (!empty && profile.kind === "xml") {
    // XML (15F, IPLOS): one record element a row, the Avgiver header in the data part (as `sendemodul encrypt`)
    ({ header, rows } = splitXml(new Uint8Array(extract), profile, (done) => post({ type: "progress", job, stage: "split", done })));
  } else if (!empty) {
    const text = latin1(new Uint8Array(extract));
    const spans = layout(profile);
    let seen = 0;
    for (const [, record] of lines(text)) {
      rows.push(split(record, spans));
      if (++seen % 20000 === 0) post({ type: "progress", job, stage: "split", done: seen });
    }
  }
  stillCurrent(job);
  const ids = rowIds(rows.length);
  const order = ids.map((id, i) => [id, i]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  post({ type: "progress", job, stage: "sorted", done: rows.length });
  const identityLines = [partHeader(containerId, "identities", rows.length)];
  const dataLines = [partHeader(containerId, "data", rows.length), ...header.map((line) => `#header\t${line}\n`)];
  for (const [rowId, index] of order) {
    const [values, data] = rows[index];
    for (const [name, value] of values) identityLines.push(`${rowId}\t${name}\t${value}\n`);
    dataLines.push(`${rowId}\t${data}\n`);
  }
  rows.length = 0;
  stillCurrent(job);
  const identities = await encryptTo(tpf, identityLines.join(""));
  post({ type: "progress", job, stage: "identities" });
  stillCurrent(job);
  const data = await encryptTo(ssb, dataLines.join(""));
  post({ type: "progress", job, stage: "data" });
  return { containerId, records: ids.length, identities, data, tpf, ssb, profile, empty };
}

async function finish({ job, keyPem, unit, producer }) {
  stillCurrent(job);
  const entry = current;
  const { containerId, records, identities, data, tpf, ssb, profile, empty } = await entry.prepared;
  const der = pkcs8FromPem(keyPem);
  const manifest = utf8(
    canonicalJson({
      format: "sendemodul-container/1",
      container_id: containerId,
      register: profile.register,
      periode: profile.periode,
      kommunenr: unit.kommunenr,
      bydel: unit.bydel,
      orgnr: unit.orgnr,
      created: utcTimestamp(),
      producer,
      records,
      no_participants: Boolean(empty),
      parts: {
        "identities.age": { recipients: tpf.map((k) => k.key_id), size: identities.length, sha256: await sha256Hex(identities) },
        "data.age": { recipients: ssb.map((k) => k.key_id), size: data.length, sha256: await sha256Hex(data) },
      },
    }),
  );
  const signature = await sign(der, manifest);
  const container = tar([
    ["manifest.json", manifest],
    ["manifest.sig", signature],
    ["identities.age", identities],
    ["data.age", data],
  ]);
  if (current === entry) current = null; // one container per prepared job
  return { container, containerId, records, curveRefusals };
}

const fail = (job) => (error) => post({ type: "error", job, code: error.message || String(error) });

self.onmessage = ({ data: message }) => {
  const { type, job } = message;
  if (type === "prepare") {
    if (message.noWebCrypto) withoutWebCryptoCurves();
    current = { job }; // before prepare() runs: its first steps run right now
    current.prepared = prepare(message);
    current.prepared.then(() => post({ type: "prepared", job }), fail(job));
  } else if (type === "finish") {
    finish(message).then((result) => post({ type: "done", job, ...result }), fail(job));
  } else if (type === "discard" && current?.job === job) {
    current = null;
  }
};
