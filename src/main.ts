/**
 * berth: runs one container job on an HPC node under Docker, Podman, Singularity or Apptainer.
 * The thin entry point: everything lives in `cli/`.
 * @module
 */

import { main } from "./cli/main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
