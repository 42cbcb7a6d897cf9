// The REST client: every call carries the bearer token; errors become
// ApiError with the server's stable code and human message.
const TOKEN_KEY = "omnicc.desk.session";

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

let session = null;
try {
  session = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || "null");
} catch {
  session = null;
}
let onUnauthorized = () => {};

export function getSession() {
  return session;
}
export function setSession(s) {
  session = s;
  if (s) sessionStorage.setItem(TOKEN_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(TOKEN_KEY);
}
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (session?.token) headers.Authorization = `Bearer ${session.token}`;
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, "network", "omniccd cannot be reached: check your network");
  }
  if (res.status === 204) return null;
  let data = null;
  const text = await res.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = data?.error || {};
    if (res.status === 401 && path !== "/auth/login") onUnauthorized();
    throw new ApiError(res.status, err.code, err.message, err.field);
  }
  return data;
}

export const get = (p) => api("GET", p);
export const post = (p, b = {}) => api("POST", p, b);
export const put = (p, b) => api("PUT", p, b);
export const patch = (p, b) => api("PATCH", p, b);

// fetchBlob downloads a file the API serves behind the token.
export async function fetchBlob(path) {
  const res = await fetch(`/api/v1${path}`, { headers: session?.token ? { Authorization: `Bearer ${session.token}` } : {} });
  if (!res.ok) throw new ApiError(res.status, "", `HTTP ${res.status}`);
  return res.blob();
}
