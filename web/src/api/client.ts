/**
 * The typed HTTP client. Paths, parameters and bodies come from `schema.d.ts`, generated from
 * the server's OpenAPI document (`npm run gen:api`); nothing here is written by hand per route.
 */
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Me = Schemas["MeOut"];
export type User = Schemas["UserOut"];
export type Conversation = Schemas["ConversationOut"];
export type Member = Schemas["MemberOut"];
export type Message = Schemas["MessageOut"];
export type SessionInfo = Schemas["SessionOut"];
export type TokenPair = Schemas["TokenPair"];
export type ApiClient = Client<paths>;

/** An HTTP failure with the server's stable error `code` (docs/protocol.md, Error codes). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** No answer at all (network down, server unreachable) or a gateway error. */
  get unavailable(): boolean {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

function describe(status: number, error: unknown): ApiError {
  if (typeof error === "object" && error !== null) {
    const e = error as { detail?: unknown; code?: unknown };
    const code = typeof e.code === "string" ? e.code : status === 422 ? "invalid" : `http_${status}`;
    if (typeof e.detail === "string") return new ApiError(status, code, e.detail);
    if (Array.isArray(e.detail) && e.detail.length > 0) {
      // FastAPI validation errors: name the first field and its complaint.
      const first = e.detail[0] as { loc?: unknown[]; msg?: string };
      const field = Array.isArray(first.loc) ? first.loc.filter((p) => p !== "body").join(".") : "";
      return new ApiError(status, code, `${field ? `${field}: ` : ""}${first.msg ?? "invalid value"}`);
    }
  }
  return new ApiError(status, `http_${status}`, `The server answered ${status}.`);
}

/** Unwrap an openapi-fetch result: the data, or an ApiError. */
export async function call<T>(
  pending: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await pending;
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(0, "network", "Could not reach the Tipline server.");
  }
  if (result.response.ok) return result.data as T;
  throw describe(result.response.status, result.error);
}

export function createApi(fetchImpl: (request: Request) => Promise<Response>, baseUrl: string): ApiClient {
  return createClient<paths>({ baseUrl, fetch: fetchImpl });
}
