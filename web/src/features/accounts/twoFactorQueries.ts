/** Server state for two-factor authentication and passkeys (docs/subsystems/accounts.md). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { call, type Schemas, type TokenPair } from "../../api/client";
import { useServices } from "../../app/services";
import { createStore } from "../../lib/store";
import type { SessionManager } from "./session";
import { createCredential, getCredential } from "./webauthn";

export type SecondStep = Schemas["SecondFactorRequired"];

/** A sign-in waiting for its second step (after a password, a provider, or a reset link). */
export const secondStepStore = createStore<SecondStep | null>(null);

/** What any first factor answers: a session, or the second step to show. */
export function adoptSignIn(session: SessionManager, answer: TokenPair | SecondStep): void {
  if ("access_token" in answer) {
    secondStepStore.set(null);
    session.set(answer);
  } else {
    secondStepStore.set(answer);
  }
}

/** The sign-in's second step: a code (app or recovery), or a passkey's answer. */
export function useVerifySecondFactor() {
  const { api, session } = useServices();
  return useMutation({
    mutationFn: async (body: { challenge: string; code?: string; passkey?: boolean }) => {
      if (body.passkey) {
        const { options } = await call(api.POST("/auth/2fa/passkey/options", { body: { challenge: body.challenge } }));
        const credential = await getCredential(options);
        return call(api.POST("/auth/2fa/verify", { body: { challenge: body.challenge, credential } }));
      }
      return call(api.POST("/auth/2fa/verify", { body: { challenge: body.challenge, code: body.code } }));
    },
    onSuccess: (pair) => adoptSignIn(session, pair),
  });
}

/** "Sign in with a passkey": no address, no password; the device unlocks the passkey. */
export function usePasskeySignIn() {
  const { api, session } = useServices();
  return useMutation({
    mutationFn: async () => {
      const { flow, options } = await call(api.POST("/auth/passkey/options", {}));
      const credential = await getCredential(options);
      return call(api.POST("/auth/passkey/verify", { body: { flow, credential } }));
    },
    onSuccess: (pair) => adoptSignIn(session, pair),
  });
}

export function useTwoFactorStatus() {
  const { api } = useServices();
  return useQuery({ queryKey: ["2fa"], queryFn: () => call(api.GET("/me/2fa")), staleTime: 0 });
}

export function useStartTotp() {
  const { api } = useServices();
  return useMutation({ mutationFn: () => call(api.POST("/me/2fa/totp", {})) });
}

/** A second factor is enrolled: the server lifted the session's REQUIRE_2FA restriction. */
export function useEnrolled() {
  const { session } = useServices();
  const qc = useQueryClient();
  return () => {
    session.setEnrolled();
    void qc.invalidateQueries({ queryKey: ["2fa"] });
  };
}

/** Turn the app on. The caller shows the recovery codes, then calls ``useEnrolled`` (not before:
 * an enrolment-only session would leave the enrolment screen before the codes were seen). */
export function useConfirmTotp() {
  const { api } = useServices();
  return useMutation({
    mutationFn: (code: string) => call(api.POST("/me/2fa/totp/confirm", { body: { code } })),
  });
}

export type Reauth = { password?: string; code?: string };

export function useDisableTotp() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: Reauth) => call(api.POST("/me/2fa/totp/disable", { body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["2fa"] }),
  });
}

export function useRegenerateRecoveryCodes() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (body: Reauth) => call(api.POST("/me/2fa/recovery-codes", { body })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["2fa"] }),
  });
}

export function usePasskeys() {
  const { api } = useServices();
  return useQuery({ queryKey: ["passkeys"], queryFn: () => call(api.GET("/me/passkeys")), staleTime: 0 });
}

export function useRegisterPasskey() {
  const { api } = useServices();
  const qc = useQueryClient();
  const enrolled = useEnrolled();
  return useMutation({
    mutationFn: async (name: string) => {
      const { flow, options } = await call(api.POST("/me/passkeys/options", {}));
      const credential = await createCredential(options);
      return call(api.POST("/me/passkeys", { body: { flow, credential, name } }));
    },
    onSuccess: () => {
      enrolled();
      void qc.invalidateQueries({ queryKey: ["passkeys"] });
    },
  });
}

export function useDeletePasskey() {
  const { api } = useServices();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => call(api.DELETE("/me/passkeys/{passkey_id}", { params: { path: { passkey_id: id } } })),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ["passkeys"] });
      void qc.invalidateQueries({ queryKey: ["2fa"] });
    },
  });
}
