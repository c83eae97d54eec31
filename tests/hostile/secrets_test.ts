/**
 * Secret environment values against berth's records, under the hardened profile on every engine: names that
 * look like credentials (`AUTH_…`, `…_PAT`, `…PRIVATE…`, `…CERT…`, `…PASS…`) and names the job marks secret
 * (`secret_environment_keys`) must never reach `crunch-run.txt`, `container.json` or `state.json`, while ordinary
 * names (`PATH`, `COMPASS_DIR`, `KEYBOARD_LAYOUT`) stay readable.
 */

import { assertEquals } from "../helpers/assert.ts";
import { testImage } from "../images/mod.ts";
import {
  assertFinalState,
  assertSecretsAbsent,
  ENGINES,
  runBerthE2e,
  withWorkspace,
} from "../e2e/_harness.ts";

const busybox = await testImage("busybox");

/** Secret values, each long and unique enough to be searched for in every file berth wrote. */
const SECRETS: Record<string, string> = {
  AUTH_HEADER: "Bearer s3cret-auth-header-4410",
  GITHUB_PAT: "ghp_s3cretPersonalAccessToken2291",
  SSH_PRIVATE: "s3cret-private-material-8120",
  CLIENT_CERT_PEM: "s3cret-cert-pem-body-5532",
  SMTP_PASS: "s3cret-smtp-pass-0071",
  DATABASE_URL: "postgres://app:s3cret-db-pw-6619@db/app",
};

for (const engine of ENGINES) {
  Deno.test({
    name: `hostile: secret environment values stay out of berth's records on ${engine.label}`,
    ignore: !engine.available,
    fn: async () => {
      await withWorkspace(engine, "secret-env", async (ws) => {
        await ws.writeJob({
          container_image: busybox.path,
          // The container sees every value; it fails (and says so on its stderr) if one is missing.
          command: [
            "sh",
            "-c",
            Object.keys(SECRETS).map((k) => `[ -n "$${k}" ] || exit 9`).join("; ") + "; echo seen",
          ],
          environment: {
            ...SECRETS,
            PATH: "/usr/bin:/bin",
            COMPASS_DIR: "/opt/compass",
            KEYBOARD_LAYOUT: "fr",
          },
          secret_environment_keys: ["DATABASE_URL"],
          mounts: { "/out": { kind: "tmp" } },
        });
        const r = await runBerthE2e(ws.args());
        assertEquals(r.code, 0, r.stderr);
        await assertFinalState(ws, "Complete", 0);
        const container = JSON.parse(await ws.read("logs/container.json"));
        assertEquals(container.environment, {
          ...Object.fromEntries(Object.keys(SECRETS).map((k) => [k, "<redacted>"])),
          PATH: "/usr/bin:/bin",
          COMPASS_DIR: "/opt/compass",
          KEYBOARD_LAYOUT: "fr",
        });
        assertEquals(container.secret_environment_keys, ["DATABASE_URL"]);
        await assertSecretsAbsent(ws, [...Object.values(SECRETS), "s3cret-db-pw-6619"]);
        await ws.assertNoLeftovers();
      });
    },
  });
}
