// The browser test of the example page (issue: browser callers over
// gRPC-Web). It runs the real factorgate binary, serves the page from other
// origins than the API, and drives Debian's Chromium through playwright-core:
// sign in, enroll TOTP, see it listed, remove it; then checks that CORS lets
// the allowed origin in and keeps another origin out.
//
// Environment: FACTORGATE_BIN (default ../bin/factorgate, built by
// `make test-browser`), CHROMIUM (default /usr/bin/chromium).

import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize } from "node:path";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.FACTORGATE_BIN || join(here, "../../bin/factorgate");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const pageDir = join(here, "../dist/ui");
const results = join(here, "../test-results");

const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };

// servePage serves web/dist/ui on a free port of 127.0.0.1: a static host of
// its own, so the page's origin differs from the API's.
async function servePage() {
  const srv = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const file = normalize(join(pageDir, path === "/" ? "index.html" : path));
    if (!file.startsWith(pageDir)) {
      res.writeHead(404).end();
      return;
    }
    try {
      const body = readFileSync(file);
      res.writeHead(200, { "Content-Type": types[extname(file)] || "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((ok) => srv.listen(0, "127.0.0.1", ok));
  return { srv, origin: `http://127.0.0.1:${srv.address().port}` };
}

// startFactorgate runs the binary on a free port with its own data
// directory and resolves with its origin, parsed from the "serving" log line.
function startFactorgate(corsOrigins) {
  const dataDir = mkdtempSync(join(tmpdir(), "factorgate-ui-"));
  const proc = spawn(bin, ["serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--sqlite-synchronous", "NORMAL",
    "--cors-origins", corsOrigins.join(",")], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  const origin = new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`factorgate did not start:\n${log}`)), 30000);
    proc.stderr.on("data", (chunk) => {
      log += chunk;
      const m = /msg=serving addr=(\S+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        ok(`http://${m[1]}`);
      }
    });
    proc.on("exit", (code) => fail(new Error(`factorgate exited with ${code}:\n${log}`)));
  });
  return { proc, dataDir, origin };
}

// totp is RFC 6238 with SHA-1, 6 digits and 30-second steps, as an
// authenticator app computes it.
function totp(base32Secret, now = Date.now()) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of base32Secret.replace(/=+$/, "").toUpperCase()) {
    const v = alphabet.indexOf(c);
    assert.ok(v >= 0, `not base32: ${base32Secret}`);
    bits += v.toString(2).padStart(5, "0");
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(now / 1000 / 30)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const off = mac[mac.length - 1] & 0xf;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, "0");
}

let api, fg, allowed, other, browser, admin, userId;
const username = "ada";
const password = "correct horse battery";

async function rest(method, path, body, token = admin) {
  const resp = await fetch(api + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  assert.ok(resp.ok, `${method} ${path}: HTTP ${resp.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

before(async () => {
  allowed = await servePage();
  other = await servePage();
  fg = startFactorgate([allowed.origin]);
  api = await fg.origin;
  admin = readFileSync(join(fg.dataDir, "admin.pat"), "utf8").trim();
  const org = await rest("POST", "/v2/organizations", { name: "browser-test" });
  const user = await rest("POST", "/v2/users/human", {
    organization: { orgId: org.organizationId }, username,
    profile: { givenName: "Ada", familyName: "Lovelace" },
    email: { email: "ada@example.com", isVerified: true },
    password: { password },
  });
  userId = user.userId;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  fg?.proc.kill("SIGTERM");
  allowed?.srv.close();
  other?.srv.close();
  if (fg) {
    await new Promise((ok) => (fg.proc.exitCode !== null ? ok() : fg.proc.on("exit", ok)));
    rmSync(fg.dataDir, { recursive: true, force: true });
  }
});

async function signIn(page) {
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click("#signin-button");
}

test("a person enrolls TOTP, sees it listed and removes it, from an allowed origin", async () => {
  const page = await browser.newPage();
  const grpcWeb = [];
  page.on("request", (r) => {
    if ((r.headers()["content-type"] || "").startsWith("application/grpc-web")) {
      grpcWeb.push(new URL(r.url()).pathname);
    }
  });
  await page.goto(`${allowed.origin}/index.html?api=${encodeURIComponent(api)}`);
  await signIn(page);
  await page.waitForSelector("#status.ok:text('Signed in.')");
  await page.waitForSelector("#no-factors:not([hidden])");

  await page.click("#enroll-totp");
  await page.waitForSelector("#enroll-section:not([hidden])");
  const secret = (await page.textContent("#secret")).trim();
  const uri = await page.getAttribute("#qr", "data-uri");
  assert.match(uri, /^otpauth:\/\/totp\//, "the QR code shows the otpauth URI");
  assert.ok(uri.includes(`secret=${secret}`), "the QR code carries the key shown");
  await page.fill("#code", totp(secret));
  await page.click("#verify");
  await page.waitForSelector("tr[data-factor=otp] td.state:text('ready')");

  // The server agrees: the person has one ready TOTP.
  let factors = await rest("POST", `/v2/users/${userId}/authentication_factors/_search`, {});
  assert.deepEqual(factors.result?.map((f) => [Object.keys(f).filter((k) => k !== "state")[0], f.state]),
    [["otp", "AUTH_FACTOR_STATE_READY"]]);

  await page.click("tr[data-factor=otp] button.remove");
  await page.waitForSelector("#status.ok:text('Removed')");
  await page.waitForSelector("#no-factors:not([hidden])");
  mkdirSync(results, { recursive: true });
  await page.screenshot({ path: join(results, "after-removal.png"), fullPage: true });

  factors = await rest("POST", `/v2/users/${userId}/authentication_factors/_search`, {});
  assert.deepEqual(factors.result ?? [], [], "the factor is gone on the server");
  // Every call went over gRPC-Web to the auth.v1 service.
  assert.deepEqual([...new Set(grpcWeb)].sort(), [
    "/zitadel.auth.v1.AuthService/AddMyAuthFactorOTP",
    "/zitadel.auth.v1.AuthService/ListMyAuthFactors",
    "/zitadel.auth.v1.AuthService/RemoveMyAuthFactorOTP",
    "/zitadel.auth.v1.AuthService/VerifyMyAuthFactorOTP",
  ]);
  await page.close();
});

test("a wrong code is refused with the server's message and adds nothing", async () => {
  const page = await browser.newPage();
  await page.goto(`${allowed.origin}/index.html?api=${encodeURIComponent(api)}`);
  await signIn(page);
  await page.waitForSelector("#status.ok:text('Signed in.')");
  await page.click("#enroll-totp");
  await page.waitForSelector("#enroll-section:not([hidden])");
  await page.fill("#code", "000000");
  await page.click("#verify");
  await page.waitForSelector("#status.error");
  assert.match(await page.textContent("#status"), /InvalidArgument: Invalid code \(EVENT-8isk2\)/);
  await page.click("#cancel-enroll");
  const factors = await rest("POST", `/v2/users/${userId}/authentication_factors/_search`, {});
  assert.ok((factors.result ?? []).every((f) => f.state !== "AUTH_FACTOR_STATE_READY"), "no ready factor after a wrong code");
  await page.close();
});

test("the browser refuses the API to a page from an origin CORS does not allow", async () => {
  const page = await browser.newPage();
  await page.goto(`${other.origin}/index.html?api=${encodeURIComponent(api)}`);
  // Password sign-in (plain fetch to the token endpoint) is blocked.
  await signIn(page);
  await page.waitForSelector("#status.error");
  assert.match(await page.textContent("#status"), /not allowed by CORS/);
  // So is gRPC-Web with a valid token pasted in.
  const resp = await fetch(`${api}/oauth/v2/token`, {
    method: "POST", body: new URLSearchParams({ grant_type: "password", username, password }),
  });
  const { access_token: token } = await resp.json();
  assert.ok(token, "the token endpoint works outside the browser");
  await page.fill("#token", token);
  await page.click("#use-token");
  await page.waitForSelector("#status.error");
  assert.match(await page.textContent("#status"), /not allowed by CORS/);
  // The same request from the allowed origin passes the preflight.
  const allowedPage = await browser.newPage();
  await allowedPage.goto(`${allowed.origin}/index.html?api=${encodeURIComponent(api)}`);
  const fromAllowed = await allowedPage.evaluate(async ([api, token]) => {
    const r = await fetch(`${api}/v2/users/me`, { headers: { Authorization: `Bearer ${token}` } }).catch((e) => e.name);
    return typeof r === "string" ? r : r.status;
  }, [api, token]);
  assert.notEqual(fromAllowed, "TypeError", "an allowed origin gets an answer");
  const fromOther = await page.evaluate(async ([api, token]) => {
    const r = await fetch(`${api}/v2/users/me`, { headers: { Authorization: `Bearer ${token}` } }).catch((e) => e.name);
    return typeof r === "string" ? r : r.status;
  }, [api, token]);
  assert.equal(fromOther, "TypeError", "another origin gets no answer");
  await allowedPage.close();
  await page.close();
});

test("factorgate serves the page itself at /ui/ (same origin, no CORS needed)", async () => {
  const page = await browser.newPage();
  await page.goto(`${api}/ui/`);
  assert.equal(await page.textContent("#api-base"), api);
  await signIn(page);
  await page.waitForSelector("#status.ok:text('Signed in.')");
  await page.close();
});

test("the OpenAPI viewer at /openapi/ui/ lists the served documents", async () => {
  const page = await browser.newPage();
  await page.goto(`${api}/openapi/ui/?doc=zitadel/user/v2/user_service`);
  await page.waitForSelector(".swagger-ui .info .title");
  const title = await page.textContent(".swagger-ui .info .title");
  assert.match(title, /^User Service v2\b/, "the document named by ?doc= opens first");
  const options = await page.$$eval(".topbar select option", (os) => os.map((o) => o.textContent));
  assert.ok(options.includes("zitadel/management"), `viewer offers management: ${options.join(", ")}`);
  await page.close();
});
