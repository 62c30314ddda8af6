// Runs a real wsnode node (embedded Redis) for the integration tests.
// (Not a test file itself: only *.test.js are run.)
import { spawn, execFile } from "node:child_process";
import { createServer } from "node:net";
import { mkdtemp, access } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/**
 * The wsnode binary: $WSNODE_BIN (js_test.go builds it once), else one built
 * here with `go build`. Returns {bin} or {skip: why}.
 */
export async function wsnodeBinary() {
  if (process.env.WSNODE_BIN) return { bin: process.env.WSNODE_BIN };
  const bin = join(await mkdtemp(join(tmpdir(), "wsnode-js-")), "wsnode");
  try {
    await run("go", ["build", "-o", bin, "./cmd/wsnode"], { cwd: repoRoot, timeout: 300_000 });
    await access(bin);
    return { bin };
  } catch (err) {
    return { skip: `no WSNODE_BIN and go build failed: ${err.message.split("\n")[0]}` };
  }
}

/** A free loopback port (free when asked; the node binds it right after). */
export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls check() until it returns a truthy value or timeoutMs passes. */
export async function waitFor(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** One wsnode process on fixed loopback ports, which survive a restart. */
export class WsnodeProcess {
  secret = "js-client-test-secret";
  log = "";
  #proc = null;

  constructor(bin, extraArgs = []) {
    this.bin = bin;
    this.extraArgs = extraArgs;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  get adminUrl() {
    return `http://127.0.0.1:${this.adminPort}`;
  }

  async start() {
    this.port ??= await freePort();
    this.adminPort ??= await freePort();
    const args = ["--addr", `127.0.0.1:${this.port}`, "--admin-addr", `127.0.0.1:${this.adminPort}`, "--jwt-secret", this.secret, "--redis-url", "", "--log-level", "warn", ...this.extraArgs];
    // WS_* variables are the node's flag twins: the caller's must not leak in.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("WS_")));
    const proc = spawn(this.bin, args, { stdio: ["ignore", "pipe", "pipe"], env });
    this.#proc = proc;
    const keep = (chunk) => {
      this.log = (this.log + chunk).slice(-20_000);
    };
    proc.stdout.on("data", keep);
    proc.stderr.on("data", keep);
    const exited = new Promise((res) => proc.once("exit", (code, signal) => res({ code, signal })));
    this.exited = exited;
    // Ready: the node answers /readyz 200 after its first heartbeat.
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`wsnode exited at start:\n${this.log}`);
      try {
        return (await fetch(`${this.adminUrl}/readyz`)).status === 200;
      } catch {
        return false;
      }
    }, 30_000, "wsnode /readyz");
  }

  /** Stops the node (SIGTERM drains: clients get 1001) and waits for it to exit. */
  async stop(signal = "SIGTERM") {
    const proc = this.#proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill("SIGKILL"), 20_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** A token minted by `wsnode token`. */
  async token(user, { ttl = "1h", type = "user" } = {}) {
    const { stdout } = await run(this.bin, ["token", "--user", user, "--type", type, "--ttl", ttl, "--jwt-secret", this.secret], { timeout: 30_000 });
    return stdout.trim();
  }

  /** DELETE /connections/{id} through the admin API. */
  async disconnect(connId, code = 4006, reason = "test") {
    const res = await fetch(`${this.adminUrl}/connections/${encodeURIComponent(connId)}?code=${code}&reason=${encodeURIComponent(reason)}`, { method: "DELETE" });
    if (res.status !== 202) throw new Error(`DELETE /connections: ${res.status} ${await res.text()}`);
  }
}
