// Drives the age author's TypeScript age (npm age-encryption 0.3) for tests/test_agepq_interop.py.
// AGE_TS_DIR names the folder whose node_modules holds age-encryption.
//   node age_ts.mjs keygen                      -> identity line, then recipient line (hybrid post-quantum)
//   node age_ts.mjs encrypt RECIPIENT IN OUT
//   node age_ts.mjs decrypt IDENTITY IN OUT
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const age = await import(pathToFileURL(join(process.env.AGE_TS_DIR, "node_modules/age-encryption/dist/index.js")).href);
const [command, key, input, output] = process.argv.slice(2);
if (command === "keygen") {
  const identity = await age.generateHybridIdentity();
  process.stdout.write(identity + "\n" + (await age.identityToRecipient(identity)) + "\n");
} else if (command === "encrypt") {
  const e = new age.Encrypter();
  e.addRecipient(key);
  writeFileSync(output, await e.encrypt(new Uint8Array(readFileSync(input))));
} else if (command === "decrypt") {
  const d = new age.Decrypter();
  d.addIdentity(key);
  writeFileSync(output, await d.decrypt(new Uint8Array(readFileSync(input))));
} else {
  throw new Error("unknown command " + command);
}
