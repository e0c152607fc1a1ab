/**
 * Two-factor authentication and passkeys: the sign-in's second step, "Sign in with a passkey",
 * and the Settings sections (authenticator app with recovery codes, passkeys).
 * See docs/subsystems/accounts.md (Two-factor authentication and passkeys).
 */
import { useState, type FormEvent } from "react";
import { useStore } from "../../lib/store";
import { Button, ErrorText, Spinner, TextField } from "../../lib/ui";
import { formatFull } from "../../lib/format";
import { accountErrorMessage } from "./errors";
import { useSignOut } from "./queries";
import {
  secondStepStore,
  useConfirmTotp,
  useDeletePasskey,
  useDisableTotp,
  useEnrolled,
  usePasskeys,
  usePasskeySignIn,
  useRegenerateRecoveryCodes,
  useRegisterPasskey,
  useStartTotp,
  useTwoFactorStatus,
  useVerifySecondFactor,
  type SecondStep,
} from "./twoFactorQueries";

function Card({ title, children }: { title: string; children: React.ReactNode }) {
  return (
    <main id="main" className="flex min-h-dvh items-center justify-center bg-zinc-50 p-4 dark:bg-zinc-950">
      <div className="w-full max-w-md rounded-xl border border-zinc-200 bg-white p-6 shadow-sm dark:border-zinc-800 dark:bg-zinc-900">
        <h1 className="mb-4 text-lg font-semibold">{title}</h1>
        {children}
      </div>
    </main>
  );
}

/** The second step of a sign-in: a code from the app, a recovery code, or a passkey. */
export function SecondStepPage() {
  const step = useStore(secondStepStore);
  if (!step) return null;
  return (
    <Card title="Two-factor authentication">
      <SecondStepForm step={step} />
    </Card>
  );
}

function SecondStepForm({ step }: { step: SecondStep }) {
  const verify = useVerifySecondFactor();
  const [code, setCode] = useState("");
  const [recovery, setRecovery] = useState(!step.methods.includes("totp") && step.methods.includes("recovery"));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    verify.mutate({ challenge: step.challenge, code: code.trim() });
  };
  const ended = verify.error && "code" in verify.error && (verify.error.code === "challenge_invalid" || verify.error.code === "challenge_expired");
  const codeMethods = step.methods.includes("totp") || step.methods.includes("recovery");
  return (
    <div className="flex flex-col gap-3" data-testid="second-step">
      {codeMethods && (
        <form onSubmit={submit} className="flex flex-col gap-3">
          <p className="text-sm text-zinc-600 dark:text-zinc-400">
            {recovery
              ? "Enter one of the recovery codes you saved when you set up two-factor authentication. Each works once."
              : "Enter the 6-digit code from your authenticator app."}
          </p>
          <TextField
            label={recovery ? "Recovery code" : "Authentication code"}
            value={code}
            onChange={(e) => setCode(e.target.value)}
            autoComplete="one-time-code"
            inputMode={recovery ? "text" : "numeric"}
            required
            autoFocus
          />
          {verify.isError && <ErrorText>{accountErrorMessage(verify.error)}</ErrorText>}
          <Button type="submit" disabled={verify.isPending || Boolean(ended)}>
            {verify.isPending ? "Checking…" : "Verify"}
          </Button>
          {step.methods.includes("totp") && step.methods.includes("recovery") && (
            <button type="button" className="text-left text-sm font-medium text-indigo-700 underline dark:text-indigo-300" onClick={() => setRecovery(!recovery)}>
              {recovery ? "Use a code from the app" : "Use a recovery code instead"}
            </button>
          )}
        </form>
      )}
      {step.methods.includes("passkey") && (
        <Button variant={codeMethods ? "secondary" : "primary"} onClick={() => verify.mutate({ challenge: step.challenge, passkey: true })} disabled={verify.isPending}>
          Use a passkey
        </Button>
      )}
      {!codeMethods && verify.isError && <ErrorText>{accountErrorMessage(verify.error)}</ErrorText>}
      <button type="button" className="text-left text-sm text-zinc-600 underline dark:text-zinc-400" onClick={() => secondStepStore.set(null)}>
        Back to sign in
      </button>
    </div>
  );
}

/** Passwordless sign-in with a passkey: a discoverable credential, no address or password. */
export function PasskeySignInButton() {
  const signIn = usePasskeySignIn();
  if (typeof window === "undefined" || !window.PublicKeyCredential) return null;
  return (
    <div className="mt-4 flex flex-col gap-2">
      <Button variant="secondary" onClick={() => signIn.mutate()} disabled={signIn.isPending} data-testid="passkey-signin">
        {/* Not "Sign in with…": the page's own "Sign in" button must stay the only one of that name. */}
        {signIn.isPending ? "Waiting for your passkey…" : "Use a passkey"}
      </Button>
      {signIn.isError && <ErrorText>{accountErrorMessage(signIn.error)}</ErrorText>}
    </div>
  );
}

/** REQUIRE_2FA: the only screen a session without a second factor gets until it enrols one. */
export function EnrolmentRequired() {
  const signOut = useSignOut();
  return (
    <Card title="Set up two-factor authentication">
      <p className="mb-4 text-sm text-zinc-600 dark:text-zinc-400">
        This server requires a second factor for your account. Set up an authenticator app or a passkey to continue.
      </p>
      <TwoFactorSettings />
      <PasskeySettings />
      <Button variant="secondary" className="mt-4" onClick={() => signOut.mutate(false)}>
        Sign out
      </Button>
    </Card>
  );
}

function download(codes: string[]) {
  const blob = new Blob([`Tipline recovery codes (each works once)\n\n${codes.join("\n")}\n`], { type: "text/plain" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = "tipline-recovery-codes.txt";
  a.click();
  URL.revokeObjectURL(url);
}

/** Ten recovery codes, shown this once: copy or download them. */
function RecoveryCodesShown({ codes, onDone }: { codes: string[]; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="flex flex-col gap-3" data-testid="recovery-codes">
      <p className="text-sm">
        Save these recovery codes somewhere safe. Each signs you in once if you lose your phone. They are shown only now.
      </p>
      <ul className="grid grid-cols-2 gap-1 rounded-md bg-zinc-100 p-3 font-mono text-sm dark:bg-zinc-800">
        {codes.map((c) => (
          <li key={c}>{c}</li>
        ))}
      </ul>
      <div className="flex flex-wrap gap-2">
        <Button
          variant="secondary"
          onClick={() => void navigator.clipboard?.writeText(codes.join("\n")).then(() => setCopied(true), () => setCopied(false))}
        >
          {copied ? "Copied" : "Copy"}
        </Button>
        <Button variant="secondary" onClick={() => download(codes)}>
          Download
        </Button>
        <Button onClick={onDone}>I saved them</Button>
      </div>
    </div>
  );
}

/** Password or a current code, before turning the app off or making new recovery codes. */
function ReauthForm({ label, busy, error, onSubmit }: { label: string; busy: boolean; error: unknown; onSubmit: (v: { password?: string; code?: string }) => void }) {
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  return (
    <form
      className="flex flex-col gap-2"
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit(password ? { password } : { code: code.trim() });
      }}
    >
      <TextField label="Your password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} />
      <TextField label="or a code from your app" value={code} onChange={(e) => setCode(e.target.value)} autoComplete="one-time-code" />
      {error ? <ErrorText>{accountErrorMessage(error)}</ErrorText> : null}
      <Button type="submit" variant="danger" disabled={busy || (!password && !code)}>
        {label}
      </Button>
    </form>
  );
}

export function TwoFactorSettings() {
  const status = useTwoFactorStatus();
  const start = useStartTotp();
  const confirm = useConfirmTotp();
  const disable = useDisableTotp();
  const regenerate = useRegenerateRecoveryCodes();
  const enrolled = useEnrolled();
  const [code, setCode] = useState("");
  const [codes, setCodes] = useState<string[] | null>(null);
  const [action, setAction] = useState<"disable" | "regenerate" | null>(null);
  if (status.isPending) return <Spinner />;
  if (status.isError) return <ErrorText>{accountErrorMessage(status.error)}</ErrorText>;
  if (codes) {
    return (
      <RecoveryCodesShown
        codes={codes}
        onDone={() => {
          setCodes(null);
          start.reset();
          enrolled();
        }}
      />
    );
  }
  if (status.data.totp) {
    return (
      <div className="flex flex-col gap-3" data-testid="totp-on">
        <p className="text-sm">
          Authenticator app: <strong>on</strong>. {status.data.recovery_codes_left} recovery codes left.
        </p>
        <div className="flex flex-wrap gap-2">
          <Button variant="secondary" onClick={() => setAction(action === "regenerate" ? null : "regenerate")}>
            New recovery codes
          </Button>
          <Button variant="secondary" onClick={() => setAction(action === "disable" ? null : "disable")}>
            Turn off
          </Button>
        </div>
        {action === "disable" && (
          <ReauthForm label="Turn off the authenticator app" busy={disable.isPending} error={disable.error} onSubmit={(v) => disable.mutate(v, { onSuccess: () => setAction(null) })} />
        )}
        {action === "regenerate" && (
          <ReauthForm
            label="Make new recovery codes"
            busy={regenerate.isPending}
            error={regenerate.error}
            onSubmit={(v) =>
              regenerate.mutate(v, {
                onSuccess: (r) => {
                  setAction(null);
                  setCodes(r.recovery_codes);
                },
              })
            }
          />
        )}
      </div>
    );
  }
  if (!start.data) {
    return (
      <div className="flex flex-col gap-3">
        <p className="text-sm text-zinc-600 dark:text-zinc-400">
          Ask for a code from an authenticator app (on your phone) when you sign in with your password.
        </p>
        {start.isError && <ErrorText>{accountErrorMessage(start.error)}</ErrorText>}
        <Button onClick={() => start.mutate()} disabled={start.isPending} data-testid="totp-start">
          Set up an authenticator app
        </Button>
      </div>
    );
  }
  return (
    <form
      className="flex flex-col gap-3"
      data-testid="totp-enrol"
      onSubmit={(e) => {
        e.preventDefault();
        confirm.mutate(code.trim(), { onSuccess: (r) => setCodes(r.recovery_codes) });
      }}
    >
      <p className="text-sm">Scan this code with your authenticator app, then enter the 6-digit code it shows.</p>
      <img src={start.data.qr_svg} alt="QR code for your authenticator app" className="size-48 self-center bg-white" />
      <p className="text-xs text-zinc-600 dark:text-zinc-400">
        Cannot scan? Enter this key: <code className="break-all font-mono" data-testid="totp-secret">{start.data.secret}</code>
      </p>
      <TextField label="Code from the app" value={code} onChange={(e) => setCode(e.target.value)} inputMode="numeric" autoComplete="one-time-code" required />
      {confirm.isError && <ErrorText>{accountErrorMessage(confirm.error)}</ErrorText>}
      <Button type="submit" disabled={confirm.isPending}>
        Turn on
      </Button>
    </form>
  );
}

export function PasskeySettings() {
  const keys = usePasskeys();
  const add = useRegisterPasskey();
  const remove = useDeletePasskey();
  const [name, setName] = useState("");
  return (
    <div className="mt-4 flex flex-col gap-3" data-testid="passkeys">
      <p className="text-sm text-zinc-600 dark:text-zinc-400">
        A passkey signs you in with your device’s lock (fingerprint, face or PIN): no password needed, and it also works as the
        second step after a password.
      </p>
      {keys.isPending ? (
        <Spinner />
      ) : keys.isError ? (
        <ErrorText>{accountErrorMessage(keys.error)}</ErrorText>
      ) : (
        <ul className="flex flex-col gap-2">
          {keys.data.map((k) => (
            <li key={k.id} className="flex items-center gap-3 rounded-md border border-zinc-200 p-3 text-sm dark:border-zinc-700">
              <div className="min-w-0 flex-1">
                <p className="truncate font-medium">{k.name}</p>
                <p className="text-xs text-zinc-500 dark:text-zinc-400">
                  added {formatFull(k.created_at)}
                  {k.last_used_at ? ` · last used ${formatFull(k.last_used_at)}` : ""}
                </p>
              </div>
              <Button variant="secondary" onClick={() => remove.mutate(k.id)} disabled={remove.isPending} aria-label={`Remove passkey ${k.name}`}>
                Remove
              </Button>
            </li>
          ))}
        </ul>
      )}
      {remove.isError && <ErrorText>{accountErrorMessage(remove.error)}</ErrorText>}
      <form
        className="flex flex-wrap items-end gap-2"
        onSubmit={(e) => {
          e.preventDefault();
          add.mutate(name.trim() || "Passkey", { onSuccess: () => setName("") });
        }}
      >
        <TextField label="Passkey name" value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. Laptop" className="flex-1" maxLength={64} />
        <Button type="submit" disabled={add.isPending} data-testid="passkey-add">
          {add.isPending ? "Waiting for your device…" : "Add a passkey"}
        </Button>
      </form>
      {add.isError && <ErrorText>{add.error instanceof Error && !("code" in add.error) ? add.error.message : accountErrorMessage(add.error)}</ErrorText>}
    </div>
  );
}
