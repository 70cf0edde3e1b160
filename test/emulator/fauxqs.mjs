// Starts the fauxqs SQS emulator on the loopback interface only (its own CLI
// listens on every interface and always logs each request).
//   FAUXQS_PORT=4566 node fauxqs.mjs
import { buildApp } from "fauxqs";

const port = parseInt(process.env.FAUXQS_PORT ?? "4566", 10);
const app = buildApp({
  logger: process.env.FAUXQS_LOGGER === "true",
  host: process.env.FAUXQS_HOST ?? "localhost",
  defaultRegion: process.env.FAUXQS_DEFAULT_REGION ?? "us-east-1",
});
await app.listen({ port, host: "127.0.0.1" });
console.log(`fauxqs listening on http://127.0.0.1:${port}`);
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => app.close().then(() => process.exit(0)));
}
