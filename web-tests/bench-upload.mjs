// Upload throughput of the web app, measured in Chromium against a real server (a benchmark
// prints figures; it asserts nothing): one large file through block negotiation (hashing in
// the browser, three blocks in flight) and many small files (one PUT each).
//   cargo build --release && node web-tests/run.mjs target/release/stratus bench-upload.mjs
import { signedIn } from "./bench-page.mjs";

const MIB = 1024 * 1024;

export default async function bench(base) {
  const { browser, page } = await signedIn(base);
  try {
    const run = (files) => page.evaluate(async ({ files, MIB }) => {
      const { uploadAll } = await import("/assets/upload.js");
      const me = await (await fetch("/api/v1/me")).json();
      const made = files.map(([name, size]) => {
        const bytes = new Uint8Array(size);
        for (let at = 0; at < size; at += 65536) crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
        return [new File([bytes], name), name];
      });
      const box = document.createElement("div");
      const started = performance.now();
      await uploadAll(me.root_id, made, box, () => {});
      const seconds = (performance.now() - started) / 1000;
      const failed = box.querySelectorAll(".error").length;

      const bytes = files.reduce((s, [, n]) => s + n, 0);
      return { seconds, mibPerSecond: bytes / MIB / seconds, filesPerSecond: files.length / seconds, failed };
    }, { files, MIB });
    const large = await run([["large.bin", 128 * MIB]]);
    console.log(`one 128 MiB file (blocks, hashed in the browser): ${large.seconds.toFixed(2)} s, ${large.mibPerSecond.toFixed(1)} MiB/s${large.failed ? `, ${large.failed} FAILED` : ""}`);
    const small = await run(Array.from({ length: 200 }, (_, i) => [`small-${i}.txt`, 10 * 1024]));
    console.log(`200 files of 10 KiB (one PUT each): ${small.seconds.toFixed(2)} s, ${small.filesPerSecond.toFixed(0)} files/s${small.failed ? `, ${small.failed} FAILED` : ""}`);
  } finally {
    await browser.close();
  }
}
