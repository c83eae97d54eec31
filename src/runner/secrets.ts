/**
 * Keeping secrets out of berth's records: the values of `secret_mounts` and of secret-looking environment
 * variables are collected once, and every message berth writes (log lines, the state record's error) passes
 * through a filter that replaces them with `<redacted>`.
 * @module
 */

import { isLosslessNumber } from "lossless-json";
import { isSecretName, REDACTED, serializeJsonContent } from "../job/mod.ts";
import type { Job, JsonValue } from "../job/mod.ts";

/** Secret values shorter than this are not searched for: they would redact ordinary words, not secrets. */
export const MIN_SECRET_LENGTH = 4;

/** Every secret value of a job, longest first (so a secret containing another is replaced whole). */
export function collectSecrets(job: Job): string[] {
  const found = new Set<string>();
  const add = (s: string) => {
    for (const piece of [s, ...s.split("\n")]) {
      const t = piece.trim();
      if (t.length >= MIN_SECRET_LENGTH) found.add(t);
    }
  };
  const addJson = (v: JsonValue) => {
    if (typeof v === "string") add(v);
    else if (typeof v === "number" || isLosslessNumber(v)) add(String(v));
    else if (Array.isArray(v)) v.forEach(addJson);
    else if (v !== null && typeof v === "object") {
      for (const inner of Object.values(v)) addJson(inner);
    }
  };
  for (const m of Object.values(job.secret_mounts)) {
    if (m.kind === "text") add(m.content);
    else {
      add(serializeJsonContent(m.content));
      addJson(m.content);
    }
  }
  for (const [name, value] of Object.entries(job.environment)) {
    if (isSecretName(name, job.secret_environment_keys)) add(value);
  }
  return [...found].sort((a, b) => b.length - a.length);
}

/** A function replacing every occurrence of each secret in a text with `<redacted>`. */
export function secretFilter(secrets: readonly string[]): (text: string) => string {
  if (secrets.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  };
}
