// Starts the real `stratus serve` on a free loopback port with a fresh data dir, runs the
// browser scenarios against it (with a stand-in for Paystack), and stops it.
//   node web-tests/run.mjs [path/to/stratus] [module.mjs, default scenarios.mjs]
//   STRATUS_SCREENSHOTS=docs/screenshots node web-tests/run.mjs   (refreshes the README's pictures)
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SECRET, startPaystack } from "./paystack.mjs";

const bin = resolve(process.argv[2] || new URL("../target/debug/stratus", import.meta.url).pathname);
const port = await new Promise((ok) => {
  const s = createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => ok(p)); });
});
const dir = mkdtempSync(join(tmpdir(), "stratus-web-"));
const paystack = await startPaystack();
const env = {
  ...process.env, STRATUS_DATA_DIR: join(dir, "data"), STRATUS_LISTEN: `127.0.0.1:${port}`, STRATUS_LOG: "warn",
  STRATUS_PAYSTACK_SECRET_KEY: SECRET, STRATUS_PAYSTACK_BASE_URL: paystack.base,
};
const server = spawn(bin, ["serve"], { env, stdio: ["ignore", "inherit", "inherit"] });
const base = `http://127.0.0.1:${port}`;
let failed = false;
try {
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/ready`)).ok) break; } catch { /* not up yet */ }
    if (i > 300) throw new Error("the server did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  const out = process.env.STRATUS_SCREENSHOTS ? resolve(process.env.STRATUS_SCREENSHOTS) : join(dir, "shots");
  const makeAdmin = (user) => execFileSync(bin, ["admin", "user", user, "--admin", "true"], { env, stdio: "pipe" });
  const module = process.argv[3] || "scenarios.mjs";
  const { default: scenarios } = await import(`./${module}`);
  await scenarios(base, out, { makeAdmin, paystack, outbox: join(dir, "data", "outbox") });
  console.log(`${module}: ok`);
} catch (err) {
  failed = true;
  console.error(`${process.argv[3] || "scenarios.mjs"} FAILED:`, err);
} finally {
  server.kill();
  paystack.close();
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
