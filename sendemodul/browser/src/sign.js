// Ed25519 signing with the unit's key (the PKCS#8 PEM that `sendemodul keygen` writes): WebCrypto where the browser
// has Ed25519, else @noble/curves (same signature: Ed25519 is deterministic).
import { ed25519 } from "@noble/curves/ed25519.js";

const PKCS8_ED25519_PREFIX = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

export class KeyError extends Error {}

// The 48 DER bytes of an unencrypted Ed25519 PKCS#8 key in PEM, or KeyError.
export function pkcs8FromPem(text) {
  const match = /-----BEGIN PRIVATE KEY-----([\s\S]*?)-----END PRIVATE KEY-----/.exec(text);
  if (!match) {
    if (text.includes("ENCRYPTED PRIVATE KEY")) throw new KeyError("encrypted");
    throw new KeyError("not_pem");
  }
  let der;
  try {
    der = Uint8Array.from(atob(match[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  } catch {
    throw new KeyError("not_pem");
  }
  if (der.length !== 48 || PKCS8_ED25519_PREFIX.some((byte, i) => der[i] !== byte)) throw new KeyError("not_ed25519");
  return der;
}

let webCryptoOff = false;
// For tests: behave as a browser without WebCrypto Ed25519.
export function forceWebCryptoOff(off) {
  webCryptoOff = off;
}

export async function sign(der, message) {
  if (!webCryptoOff) {
    try {
      const key = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
      return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, message));
    } catch (error) {
      const unsupported =
        error instanceof ReferenceError ||
        error instanceof TypeError ||
        (error instanceof DOMException && (error.name === "NotSupportedError" || error.name === "DataError"));
      if (!unsupported) throw error;
    }
  }
  return ed25519.sign(message, der.subarray(16));
}
