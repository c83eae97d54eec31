/**
 * Bind mounts for the create body, and the check of the created container's mounts against what was asked.
 *
 * Docker gets structured `HostConfig.Mounts` entries (`Type: "bind"`, `Source`, `Target`, `ReadOnly`): no path
 * character can change a mount's meaning, unlike in `host:container:ro` strings. Podman 4's compatible API turns
 * each `Mounts` entry back into a `--mount type=bind,source=…` string split on ",", so there a path containing
 * "," would become a mount option (`/x/a,ro` mounts `/x/a`, read-only); Podman's `Binds` parser splits on ":"
 * only. So for Podman a mount whose paths contain "," goes into `Binds` instead, and one whose paths contain
 * both "," and ":" is refused. Whatever the engine did, {@link compareMounts} checks the created container
 * against the spec, and the executor refuses a container that differs.
 *
 * @module
 */

import { EngineError } from "../../errors.ts";
import type { BindMount } from "../types.ts";
import type { InspectMount } from "./containers.ts";
import type { ApiFlavor } from "./system.ts";

/** A `HostConfig.Mounts` entry of type bind. */
export interface BindMountEntry {
  /** Always `bind`. */
  Type: "bind";
  /** The host path, verbatim. */
  Source: string;
  /** The path inside the container. */
  Target: string;
  /** True to mount read-only. */
  ReadOnly: boolean;
}

/** The mount fields of the create body. */
export interface MountFields {
  /** Structured bind mounts. */
  Mounts: BindMountEntry[];
  /** `host:container[:ro]` strings: only for Podman, only for paths its `Mounts` parser would split. */
  Binds: string[];
}

/**
 * The create body's mount fields for `mounts` (keyed by container path), sorted by container path.
 * @throws {EngineError} (not a broken node) for a mount Podman's API cannot express.
 */
export function mountFields(mounts: Record<string, BindMount>, flavor: ApiFlavor): MountFields {
  const fields: MountFields = { Mounts: [], Binds: [] };
  for (const target of Object.keys(mounts).sort()) {
    const m = mounts[target];
    const paths = [m.hostPath, target];
    if (flavor === "podman" && paths.some((p) => p.includes(","))) {
      if (paths.some((p) => p.includes(":"))) {
        throw new EngineError(
          `Cannot bind-mount "${m.hostPath}" at "${target}" with Podman: its Docker-compatible API cannot ` +
            `express a mount whose paths contain both "," and ":"`,
          { brokenNode: false },
        );
      }
      fields.Binds.push(`${m.hostPath}:${target}${m.readOnly ? ":ro" : ""}`);
      continue;
    }
    fields.Mounts.push({ Type: "bind", Source: m.hostPath, Target: target, ReadOnly: m.readOnly });
  }
  return fields;
}

/**
 * A path with the spellings that cannot change its meaning removed, as the engines remove them: repeated "/",
 * "/." components and a trailing "/". A ".." is kept: the engines resolve it lexically, which differs from the
 * kernel's resolution when the component before it is a symbolic link.
 */
export function cleanSpelling(path: string): string {
  const cleaned = path.replace(/\/\.(?=\/|$)/g, "/").replace(/\/+/g, "/");
  return cleaned.length > 1 && cleaned.endsWith("/") ? cleaned.slice(0, -1) : cleaned;
}

/**
 * Compares the bind mounts of a created container (its inspect `Mounts`) with the spec's: each asked target must
 * be bound exactly once, from exactly the asked host path (string equality up to {@link cleanSpelling}: the
 * runner hands resolved paths, so the engine must not have resolved anything differently), with the asked
 * access; no other bind may exist.
 * @returns null when they match, else one line naming the first difference.
 */
export function compareMounts(
  asked: Record<string, BindMount>,
  seen: InspectMount[] | null | undefined,
): string | null {
  const binds = (seen ?? []).filter((m) => m.Type === "bind");
  for (const target of Object.keys(asked).sort()) {
    const want = asked[target];
    const at = binds.filter((m) => m.Destination === cleanSpelling(target));
    if (at.length === 0) return `"${target}" is not bind-mounted (expected from "${want.hostPath}")`;
    if (at.length > 1) return `"${target}" is bind-mounted ${at.length} times`;
    const got = at[0];
    if (got.Source !== cleanSpelling(want.hostPath)) {
      return `"${target}" is bind-mounted from "${got.Source ?? ""}", not from "${want.hostPath}"`;
    }
    if (got.RW !== !want.readOnly) {
      return `"${target}" is mounted ${got.RW ? "writable" : "read-only"}, not ` +
        `${want.readOnly ? "read-only" : "writable"}`;
    }
  }
  const targets = new Set(Object.keys(asked).map(cleanSpelling));
  const extra = binds.find((m) => !targets.has(m.Destination ?? ""));
  if (extra) {
    return `"${extra.Destination ?? ""}" is bind-mounted from "${extra.Source ?? ""}", which was not asked`;
  }
  return null;
}
