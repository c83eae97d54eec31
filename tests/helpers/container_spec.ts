/**
 * A plain {@link ContainerSpec} for executor-level tests: no limits, no mounts, no network, the image's user,
 * stdin empty. Tests give what they care about.
 * @module
 */

import type { ContainerSpec } from "../../src/executor/types.ts";

/** PATH for the test containers: the busybox test images have their applets in these directories. */
export const TEST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

/** The spec with every field not in `over` at its plain value (`workingDir` "/", `env` {PATH}). */
export function plainSpec(
  over: Partial<ContainerSpec> & Pick<ContainerSpec, "name" | "image" | "command" | "stdout" | "stderr">,
): ContainerSpec {
  return {
    workingDir: "/",
    env: { PATH: TEST_PATH },
    user: null,
    labels: {},
    mounts: {},
    vcpus: 0,
    ram: 0,
    gpu: { stack: "", deviceCount: 0 },
    enableNetwork: false,
    networkMode: "default",
    cgroupParent: "",
    stdin: null,
    ...over,
  };
}
