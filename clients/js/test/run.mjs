// `npm test`: runs the *.test.js files with Node's test runner, adding
// --experimental-websocket only where the global WebSocket needs it (Node 20;
// Node 22 and later have it by default and may not know the flag).
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const dir = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith(".test.js")).sort().map((f) => join(dir, f));
const flags = typeof globalThis.WebSocket === "function" ? [] : ["--experimental-websocket"];
const { status, error } = spawnSync(process.execPath, [...flags, "--test", ...files, ...process.argv.slice(2)], { stdio: "inherit" });
if (error) throw error;
process.exit(status ?? 1);
