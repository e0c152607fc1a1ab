/**
 * The signed-in session: tokens and the user, shared by every tab of this browser.
 *
 * Tokens live in localStorage so a reload (or a second tab) stays signed in. Refresh tokens
 * rotate and a reused one revokes the session (docs/subsystems/accounts.md), so two tabs must
 * never refresh with the same token: refreshes take a Web Lock and, inside it, first check
 * whether another tab already rotated the tokens.
 */
import type { Me, TokenPair } from "../../api/client";

export interface StoredSession {
  accessToken: string;
  /** Epoch ms at which the access token expires. */
  accessExpiresAt: number;
  refreshToken: string;
  sessionId: string;
  user: Me;
  /** REQUIRE_2FA: this session may only enrol a second factor until the account has one. */
  enrollmentRequired?: boolean;
}

export type RefreshResult = "ok" | "signed_out" | "unavailable";
/** Why the last session ended without the user signing out here. */
export type EndReason = "expired" | "signed_out_elsewhere";

const KEY = "tipline.session";
const ENDED_KEY = "tipline.session-ended";
/** Refresh this long before expiry, so a token never dies in flight. */
const EARLY_MS = 60_000;

function isSession(v: unknown): v is StoredSession {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o.accessToken === "string" && typeof o.refreshToken === "string" && typeof o.user === "object";
}

export class SessionManager {
  private session: StoredSession | null;
  private listeners = new Set<() => void>();
  private refreshing: Promise<RefreshResult> | null = null;

  constructor(
    private readonly storage: Storage | null,
    private readonly baseUrl: string,
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
    private readonly now: () => number = Date.now,
  ) {
    this.session = this.read();
  }

  current(): StoredSession | null {
    return this.session;
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Why the previous session ended (shown once on the sign-in page). */
  endReason(): EndReason | null {
    const v = this.storage?.getItem(ENDED_KEY);
    return v === "expired" || v === "signed_out_elsewhere" ? v : null;
  }

  clearEndReason(): void {
    this.storage?.removeItem(ENDED_KEY);
  }

  /** Store a fresh token pair (sign-in, sign-up, refresh). */
  set(pair: TokenPair): void {
    this.write({
      accessToken: pair.access_token,
      accessExpiresAt: this.now() + pair.expires_in * 1000,
      refreshToken: pair.refresh_token,
      sessionId: pair.session_id,
      user: pair.user,
      enrollmentRequired: pair.enrollment_required ?? false,
    });
    this.clearEndReason();
  }

  /** A second factor was enrolled: the server lifted the session's restriction. */
  setEnrolled(): void {
    if (this.session) this.write({ ...this.session, enrollmentRequired: false });
  }

  setUser(user: Me): void {
    if (this.session) this.write({ ...this.session, user });
  }

  /** Forget the session locally. `reason` is set when it ended without the user asking here. */
  clear(reason?: EndReason): void {
    if (reason) this.storage?.setItem(ENDED_KEY, reason);
    this.write(null);
  }

  /** Another tab changed the stored session (storage event). */
  sync(): void {
    const next = this.read();
    if (JSON.stringify(next) !== JSON.stringify(this.session)) {
      this.session = next;
      this.notify();
    }
  }

  /** A usable access token, refreshed first when it is about to expire; null when signed out. */
  async accessToken(): Promise<string | null> {
    const s = this.read() ?? this.session;
    if (!s) return null;
    if (s.accessExpiresAt - this.now() > EARLY_MS) return s.accessToken;
    const result = await this.refresh(s.accessToken);
    if (result === "signed_out") return null;
    // "unavailable": try with the old token; the server will say if it is no good.
    return this.session?.accessToken ?? null;
  }

  /**
   * Rotate the tokens. `failedToken` is the access token that was refused (or is expiring):
   * if the stored one differs, another tab already refreshed and nothing is sent.
   */
  refresh(failedToken?: string): Promise<RefreshResult> {
    if (this.refreshing) return this.refreshing;
    const run = async (): Promise<RefreshResult> => {
      const s = this.read();
      this.session = s;
      if (!s) return "signed_out";
      if (failedToken !== undefined && s.accessToken !== failedToken && s.accessExpiresAt - this.now() > EARLY_MS) {
        this.notify();
        return "ok";
      }
      let response: Response;
      try {
        response = await this.fetchImpl(`${this.baseUrl}/auth/refresh`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ refresh_token: s.refreshToken }),
        });
      } catch {
        return "unavailable";
      }
      if (response.status === 401 || response.status === 422) {
        this.clear("expired");
        return "signed_out";
      }
      if (!response.ok) return "unavailable";
      this.set((await response.json()) as TokenPair);
      return "ok";
    };
    const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
    const locked = (locks ? locks.request("tipline-refresh", run) : run()) as Promise<RefreshResult>;
    const p = locked.finally(() => {
      this.refreshing = null;
    });
    this.refreshing = p;
    return p;
  }

  private read(): StoredSession | null {
    if (!this.storage) return this.session ?? null;
    try {
      const raw = this.storage.getItem(KEY);
      const v: unknown = raw ? JSON.parse(raw) : null;
      return isSession(v) ? v : null;
    } catch {
      return null;
    }
  }

  private write(next: StoredSession | null): void {
    this.session = next;
    try {
      if (next) this.storage?.setItem(KEY, JSON.stringify(next));
      else this.storage?.removeItem(KEY);
    } catch {
      // Private mode or full storage: the session lasts as long as this tab.
    }
    this.notify();
  }

  private notify(): void {
    for (const fn of [...this.listeners]) fn();
  }
}

export const SESSION_STORAGE_KEY = KEY;
