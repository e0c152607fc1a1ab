/** Server state for accounts: my profile and sessions, and the sign-in/up/out calls. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useSyncExternalStore } from "react";
import { call, type Me, type Schemas, type SessionInfo } from "../../api/client";
import { useServices } from "../../app/services";
import type { StoredSession } from "./session";
import { forgetDrafts } from "../timeline/drafts";
import { adoptSignIn } from "./twoFactorQueries";

export function useSession(): StoredSession | null {
  const { session } = useServices();
  return useSyncExternalStore(
    (fn) => session.subscribe(fn),
    () => session.current(),
  );
}

/** The signed-in user; kept fresh from GET /me, seeded from the stored session. */
export function useMe(): Me | null {
  const { api, session } = useServices();
  const stored = useSession();
  const q = useQuery({
    queryKey: ["me"],
    queryFn: async () => {
      const me = await call(api.GET("/me"));
      session.setUser(me);
      return me;
    },
    enabled: stored !== null,
    staleTime: 5 * 60_000,
  });
  return q.data ?? stored?.user ?? null;
}

export function useSignIn() {
  const { api, session } = useServices();
  return useMutation({
    mutationFn: (body: { email: string; password: string }) => call(api.POST("/auth/signin", { body })),
    // A session, or (an account with a second factor) the second step to show.
    onSuccess: (answer) => adoptSignIn(session, answer),
  });
}

/** Sign up. With email verification (the server's default) nothing is signed in yet: the answer is
 * the same whether or not the email has an account, and the mailbox gets the next step. */
export function useSignUp() {
  const { api, session } = useServices();
  return useMutation({
    mutationFn: (body: { email: string; password: string; handle: string; display_name: string; invite?: string | null }) =>
      call(api.POST("/auth/signup", { body })),
    onSuccess: (answer) => {
      if ("access_token" in answer) session.set(answer);
    },
  });
}

/** Whether sign-up is open, invite-only or closed, and which email domains may sign up (public). */
export function useSignupInfo() {
  const { api } = useServices();
  return useQuery({ queryKey: ["signup-info"], queryFn: () => call(api.GET("/auth/signup-info")), staleTime: 60_000 });
}

/** Follow an email verification link: the account is verified and signed in. */
export function useVerifyEmail() {
  const { api, session } = useServices();
  return useMutation({
    mutationFn: (token: string) => call(api.POST("/auth/verify", { body: { token } })),
    onSuccess: (answer) => adoptSignIn(session, answer),
  });
}

/** Ask for a new verification link (the server answers the same for any address). */
export function useResendVerification() {
  const { api } = useServices();
  return useMutation({
    mutationFn: (email: string) => call(api.POST("/auth/verify/resend", { body: { email } })),
  });
}

/** Ask for a password reset link (the server answers the same for any address). */
export function useForgotPassword() {
  const { api } = useServices();
  return useMutation({
    mutationFn: (email: string) => call(api.POST("/auth/password/forgot", { body: { email } })),
  });
}

/** Follow a reset link with a new password: every other session ends, and this one starts. */
export function useResetPassword() {
  const { api, session, queryClient } = useServices();
  return useMutation({
    mutationFn: (body: { token: string; new_password: string }) => call(api.POST("/auth/password/reset", { body })),
    onSuccess: (pair) => {
      // Whoever was signed in here before (perhaps someone else) is gone with their cached data.
      queryClient.clear();
      adoptSignIn(session, pair);
    },
  });
}

/** Ask to move my account to another address: a link goes there, a notice to the current one. */
export function useRequestEmailChange() {
  const { api } = useServices();
  return useMutation({
    mutationFn: (body: { new_email: string; password: string }) => call(api.POST("/me/email", { body })),
  });
}

/** Follow the link mailed to a new address; a signed-in tab shows the new address. */
export function useConfirmEmailChange() {
  const { api, queryClient } = useServices();
  return useMutation({
    mutationFn: (token: string) => call(api.POST("/auth/email/confirm", { body: { token } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["me"] }),
  });
}

/** Sign out here (`all: false`) or on every device. Local state goes even if the server is down. */
export function useSignOut() {
  const { api, session, queryClient } = useServices();
  return useMutation({
    mutationFn: async (all: boolean) => {
      try {
        await call(api.POST(all ? "/auth/signout-all" : "/auth/signout"));
      } catch {
        // The session ends locally regardless; the server expires it on its own.
      }
    },
    onSettled: () => {
      const userId = session.current()?.user.id;
      if (userId !== undefined) localStorage.removeItem(`tipline.outbox.${userId}`);
      if (userId !== undefined) forgetDrafts(userId);
      session.clear();
      queryClient.clear();
    },
  });
}

export function useUpdateProfile() {
  const { api, session } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: Schemas["ProfilePatch"]) => call(api.PATCH("/me", { body })),
    onSuccess: (me) => {
      session.setUser(me);
      qc.setQueryData(["me"], me);
      // My own profile card (status, time zone) reads GET /users/{id}.
      void qc.invalidateQueries({ queryKey: ["user", me.id] });
    },
  });
}

export function useSessions() {
  const { api } = useServices();
  return useQuery({
    queryKey: ["sessions"],
    queryFn: () => call(api.GET("/me/sessions")),
    staleTime: 0,
  });
}

export function useRevokeSession() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => call(api.DELETE("/me/sessions/{session_id}", { params: { path: { session_id: id } } })),
    onSuccess: (_data, id) => {
      qc.setQueryData<SessionInfo[]>(["sessions"], (list) => list?.filter((s) => s.id !== id));
    },
  });
}

/** The OpenID Connect providers the server offers ("Sign in with …"); none when it has none. */
export function useOidcProviders() {
  const { api } = useServices();
  return useQuery({
    queryKey: ["oidc-providers"],
    queryFn: () => call(api.GET("/auth/oidc/providers")),
    staleTime: 10 * 60_000,
  });
}

/**
 * Finish a provider sign-in: the server's callback left a one-time hand-off in an HttpOnly
 * cookie (never in the URL); POSTing it here returns the usual token pair.
 */
export function useCompleteOidc() {
  const { api, session } = useServices();
  return useMutation({
    mutationFn: () => call(api.POST("/auth/oidc/complete", {})),
    onSuccess: (answer) => adoptSignIn(session, answer),
  });
}
