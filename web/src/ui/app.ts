// The example page: a signed-in person lists their second factors, adds an
// authenticator app (TOTP, with a QR code of the otpauth:// URI) and removes
// factors, all through gRPC-Web (zitadel.auth.v1.AuthService) with the
// client generated from factorgate's protos into web/gen.
//
// The API may live on another origin than the page: ?api=<origin> names it
// (factorgate must then allow the page's origin with --cors-origins).

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import QRCode from "qrcode";

import { AuthService } from "../../gen/zitadel/auth_pb";
import { AuthFactorState, type AuthFactor } from "../../gen/zitadel/user_pb";

const api = apiBase();
let token = "";
let client: Client<typeof AuthService> | undefined;

function apiBase(): string {
  const given = new URLSearchParams(location.search).get("api");
  if (!given) {
    return location.origin;
  }
  const u = new URL(given); // throws on garbage: better than calling somewhere odd
  return u.origin;
}

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) {
    throw new Error(`missing element #${id}`);
  }
  return el;
}

function input(id: string): HTMLInputElement {
  return $(id) as HTMLInputElement;
}

function say(text: string, kind: "ok" | "error" | "" = ""): void {
  const s = $("status");
  s.textContent = text;
  s.className = kind;
}

// describe turns any failure into one line for a person: the gRPC code and
// message the server sent, or a hint when the request never got an answer
// (a browser refuses to show a response that CORS does not allow).
function describe(err: unknown): string {
  const e = ConnectError.from(err);
  if (e.code === Code.Unknown || e.code === Code.Unavailable || e.code === Code.Internal) {
    if (/fetch|network/i.test(e.rawMessage)) {
      return `Cannot reach the API at ${api} (network error, or this page's origin is not allowed by CORS)`;
    }
  }
  return `${Code[e.code]}: ${e.rawMessage}`;
}

function signedIn(t: string): void {
  token = t;
  const auth: Interceptor = (next) => async (req) => {
    req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };
  client = createClient(AuthService, createGrpcWebTransport({ baseUrl: api, interceptors: [auth] }));
  $("signin-section").hidden = true;
  $("factors-section").hidden = false;
}

function signOut(): void {
  token = "";
  client = undefined;
  $("signin-section").hidden = false;
  $("factors-section").hidden = true;
  $("enroll-section").hidden = true;
  say("Signed out.");
}

async function passwordGrant(username: string, password: string): Promise<string> {
  let resp: Response;
  try {
    resp = await fetch(`${api}/oauth/v2/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "password", username, password }),
    });
  } catch {
    throw new Error(`Cannot reach the API at ${api} (network error, or this page's origin is not allowed by CORS)`);
  }
  const body = (await resp.json().catch(() => ({}))) as { access_token?: string; error_description?: string; error?: string };
  if (!resp.ok || !body.access_token) {
    throw new Error(body.error_description || body.error || `sign-in failed (HTTP ${resp.status})`);
  }
  return body.access_token;
}

type Row = { label: string; state: AuthFactorState; remove: () => Promise<unknown> };

function rowOf(c: Client<typeof AuthService>, f: AuthFactor): Row | undefined {
  switch (f.type.case) {
    case "otp":
      return { label: "Authenticator app (TOTP)", state: f.state, remove: () => c.removeMyAuthFactorOTP({}) };
    case "u2f": {
      const key = f.type.value;
      return { label: `Security key ${key.name || key.id}`, state: f.state, remove: () => c.removeMyAuthFactorU2F({ tokenId: key.id }) };
    }
    case "otpSms":
      return { label: "One-time code by SMS", state: f.state, remove: () => c.removeMyAuthFactorOTPSMS({}) };
    case "otpEmail":
      return { label: "One-time code by email", state: f.state, remove: () => c.removeMyAuthFactorOTPEmail({}) };
  }
  return undefined;
}

function stateName(s: AuthFactorState): string {
  switch (s) {
    case AuthFactorState.READY:
      return "ready";
    case AuthFactorState.NOT_READY:
      return "not ready";
    default:
      return "unknown";
  }
}

async function refresh(): Promise<void> {
  const c = client;
  if (!c) {
    return;
  }
  const { result } = await c.listMyAuthFactors({});
  const body = ($("factors") as HTMLTableElement).tBodies[0];
  body.replaceChildren();
  for (const f of result) {
    const row = rowOf(c, f);
    if (!row) {
      continue;
    }
    const tr = document.createElement("tr");
    tr.dataset.factor = f.type.case;
    const name = document.createElement("td");
    name.textContent = row.label;
    const state = document.createElement("td");
    state.textContent = stateName(row.state);
    state.className = "state";
    const action = document.createElement("td");
    const btn = document.createElement("button");
    btn.type = "button";
    btn.textContent = "Remove";
    btn.className = "remove";
    btn.addEventListener("click", () => {
      void act(async () => {
        await row.remove();
        await refresh();
        say(`Removed: ${row.label}.`, "ok");
      });
    });
    action.append(btn);
    tr.append(name, state, action);
    body.append(tr);
  }
  $("no-factors").hidden = body.rows.length > 0;
}

// act runs one user action and reports its failure on the page.
async function act(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    say(err instanceof ConnectError ? describe(err) : String(err instanceof Error ? err.message : err), "error");
  }
}

function wire(): void {
  $("api-base").textContent = api;
  $("signin-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    void act(async () => {
      signedIn(await passwordGrant(input("username").value, input("password").value));
      input("password").value = "";
      await refresh();
      say("Signed in.", "ok");
    });
  });
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    void act(async () => {
      signedIn(input("token").value.trim());
      input("token").value = "";
      await refresh();
      say("Signed in.", "ok");
    });
  });
  $("sign-out").addEventListener("click", signOut);
  $("enroll-totp").addEventListener("click", () => {
    void act(async () => {
      const c = client;
      if (!c) {
        return;
      }
      const reg = await c.addMyAuthFactorOTP({});
      $("secret").textContent = reg.secret;
      await QRCode.toCanvas($("qr") as HTMLCanvasElement, reg.url, { margin: 2, width: 200 });
      $("qr").dataset.uri = reg.url;
      $("enroll-section").hidden = false;
      input("code").focus();
      say("Scan the code, then enter the six digits your app shows.");
    });
  });
  $("verify-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    void act(async () => {
      const c = client;
      if (!c) {
        return;
      }
      await c.verifyMyAuthFactorOTP({ code: input("code").value.trim() });
      input("code").value = "";
      $("enroll-section").hidden = true;
      await refresh();
      say("Authenticator app added.", "ok");
    });
  });
  $("cancel-enroll").addEventListener("click", () => {
    $("enroll-section").hidden = true;
  });
}

wire();
