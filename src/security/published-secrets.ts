/**
 * Secrets that are public: the demo fleet's, printed in the README and shipped in
 * simulators/demo-credentials.json so that `citypipe demo` can drive its simulated devices. Anyone
 * can read them, so a device presenting one is refused everywhere but in the demo, whatever catalog
 * it is in (a copied demo catalog, a hash pasted from the repository).
 */
import { readFileSync } from 'node:fs';
import { demoCredentialsFile } from '../paths.js';

/** The published secrets (the values of the demo credentials file); empty if it is not installed. */
export function publishedSecrets(file = demoCredentialsFile): ReadonlySet<string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return new Set();
  }
  if (typeof parsed !== 'object' || parsed === null) return new Set();
  return new Set(Object.values(parsed).filter((v): v is string => typeof v === 'string' && v.length > 0));
}
