/** `berth version`: prints berth's version and the Deno runtime it runs on. @module */

import { VERSION } from "../version.ts";
import { type Command, parseCommandArgs } from "./command.ts";

/** The `version` command. */
export const versionCommand: Command = {
  name: "version",
  summary: "print berth's version",
  help: "Usage: berth version\n\nPrints berth's version, and the Deno and V8 versions it runs on.",
  run(args) {
    const { values } = parseCommandArgs("version", args, {});
    if (values.help) {
      console.log(versionCommand.help);
      return Promise.resolve(0);
    }
    console.log(`berth ${VERSION} (deno ${Deno.version.deno}, v8 ${Deno.version.v8})`);
    return Promise.resolve(0);
  },
};
