/** berth's version, reported by `berth version`, in logs and in `state.json`. Keep in step with deno.json. */
export const VERSION = "0.1.0";
