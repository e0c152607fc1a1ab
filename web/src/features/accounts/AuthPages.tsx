/** Sign in and sign up, email links (verification, password reset, new address), forgot password. */
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { Link, useLocation } from "wouter";
import { ApiError } from "../../api/client";
import { useServices } from "../../app/services";
import { Button, ErrorText, TextField } from "../../lib/ui";
import { accountErrorMessage } from "./errors";
import { PasskeySignInButton } from "./TwoFactor";
import { WalletSignIn } from "../wallets/WalletSignIn";
import {
  useCompleteOidc,
  useConfirmEmailChange,
  useForgotPassword,
  useOidcProviders,
  useResendVerification,
  useResetPassword,
  useSignIn,
  useSignUp,
  useSignupInfo,
  useVerifyEmail,
} from "./queries";

function AuthLayout({ title, children, footer }: { title: string; children: ReactNode; footer: ReactNode }) {
  return (
    <main id="main" className="flex min-h-dvh items-center justify-center bg-zinc-50 p-4 dark:bg-zinc-950">
      <div className="w-full max-w-sm">
        <div className="mb-6 flex items-center justify-center gap-2">
          <img src="/favicon.svg" alt="" className="size-9" />
          <span className="text-2xl font-bold tracking-tight">Tipline</span>
        </div>
        <div className="rounded-xl border border-zinc-200 bg-white p-6 shadow-sm dark:border-zinc-800 dark:bg-zinc-900">
          <h1 className="mb-4 text-lg font-semibold">{title}</h1>
          {children}
        </div>
        <p className="mt-4 text-center text-sm text-zinc-600 dark:text-zinc-400">{footer}</p>
      </div>
    </main>
  );
}

const errorMessage = accountErrorMessage;

function SessionEndedNotice() {
  const { session } = useServices();
  const [reason] = useState(() => session.endReason());
  if (!reason) return null;
  return (
    <div role="status" className="mb-4 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100" data-testid="session-ended">
      <p className="font-semibold">Your session has ended.</p>
      <p>
        You were signed out (from another device, or the session expired). Sign in again to continue; messages you wrote
        while offline are kept and will be sent once you are back.
      </p>
    </div>
  );
}

/** The query the server's OIDC callback redirects to once the provider has signed the user in. */
export const OIDC_RETURN_PARAM = "signin";

/** "Sign in with <provider>" links, and finishing a sign-in the provider sent back here. */
export function OidcSignIn() {
  const providers = useOidcProviders();
  const complete = useCompleteOidc();
  const started = useRef(false);
  useEffect(() => {
    const params = new URLSearchParams(window.location.search);
    if (params.get(OIDC_RETURN_PARAM) !== "oidc" || started.current) return;
    started.current = true;
    params.delete(OIDC_RETURN_PARAM);
    const rest = params.toString();
    window.history.replaceState(null, "", `${window.location.pathname}${rest ? `?${rest}` : ""}`);
    complete.mutate();
  }, [complete]);
  const list = providers.data ?? [];
  if (list.length === 0 && !complete.isPending && !complete.isError) return null;
  return (
    <div className="mt-4 flex flex-col gap-2" data-testid="oidc-providers">
      {list.length > 0 && <p className="text-center text-sm text-zinc-600 dark:text-zinc-400">or</p>}
      {list.map((p) => (
        // A full page navigation: the server redirects to the provider and remembers this browser.
        <a
          key={p.name}
          href={p.start_url}
          className="rounded-md border border-zinc-300 px-3 py-2 text-center text-sm font-medium hover:bg-zinc-50 focus-visible:outline-2 focus-visible:outline-indigo-600 dark:border-zinc-700 dark:hover:bg-zinc-800"
        >
          Sign in with {p.display_name}
        </a>
      ))}
      {complete.isPending && <p role="status" className="text-sm">Finishing sign-in…</p>}
      {complete.isError && <ErrorText>{errorMessage(complete.error)}</ErrorText>}
    </div>
  );
}

export function SignIn() {
  const signIn = useSignIn();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    signIn.mutate({ email, password });
  };
  return (
    <AuthLayout title="Sign in" footer={<>New here? <Link href="/signup" className="font-medium text-indigo-700 underline dark:text-indigo-300">Create an account</Link></>}>
      <SessionEndedNotice />
      <form onSubmit={submit} className="flex flex-col gap-3">
        <TextField label="Email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} required autoFocus />
        <TextField label="Password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
        {signIn.isError && <ErrorText>{errorMessage(signIn.error)}</ErrorText>}
        <Button type="submit" disabled={signIn.isPending}>
          {signIn.isPending ? "Signing in…" : "Sign in"}
        </Button>
      </form>
      <p className="mt-3 text-sm">
        <Link href="/forgot" className="font-medium text-indigo-700 underline dark:text-indigo-300">
          Forgot password?
        </Link>
      </p>
      {signIn.error instanceof ApiError && signIn.error.code === "invalid_credentials" && <NotConfirmedYet email={email} />}
      <PasskeySignInButton />
      <WalletSignIn />
      <OidcSignIn />
    </AuthLayout>
  );
}

/** "Send the link again" for ``email`` (or for an address typed here when none is known). */
function ResendLink({ email: known }: { email?: string }) {
  const resend = useResendVerification();
  const [email, setEmail] = useState(known ?? "");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    resend.mutate(email);
  };
  if (resend.isSuccess) {
    return (
      <p role="status" className="mt-4 text-sm" data-testid="verification-resent">
        If <strong>{email}</strong> has an account waiting for confirmation, a new link is on its way. Earlier links no
        longer work.
      </p>
    );
  }
  return (
    <form onSubmit={submit} className="mt-4 flex flex-col gap-3">
      {known === undefined && (
        <TextField label="Email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} required />
      )}
      {resend.isError && <ErrorText>{errorMessage(resend.error)}</ErrorText>}
      <Button type="submit" disabled={resend.isPending}>
        {resend.isPending ? "Sending…" : "Send the link again"}
      </Button>
    </form>
  );
}

/**
 * The server answers a wrong password and an account whose address is not confirmed yet alike (so
 * that signing up with someone's address and then signing in tells nothing); this offers the link
 * again to whoever just signed up.
 */
function NotConfirmedYet({ email }: { email: string }) {
  const [open, setOpen] = useState(false);
  if (!open) {
    return (
      <p className="mt-3 text-sm text-zinc-600 dark:text-zinc-400">
        Just signed up? Open the link we mailed you first.{" "}
        <button type="button" className="font-medium text-indigo-700 underline dark:text-indigo-300" onClick={() => setOpen(true)}>
          Mail it again
        </button>
      </p>
    );
  }
  return <ResendLink email={email} />;
}

function CheckEmail({ email }: { email: string }) {
  return (
    <AuthLayout title="Check your email" footer={<>Confirmed already? <Link href="/signin" className="font-medium text-indigo-700 underline dark:text-indigo-300">Sign in</Link></>}>
      <div role="status" data-testid="check-email" className="flex flex-col gap-2 text-sm">
        <p>
          We sent a mail to <strong>{email}</strong>. Open the link in it to confirm your address and sign in; it works
          once, for 24 hours.
        </p>
        <p className="text-zinc-600 dark:text-zinc-400">Nothing there? Look in your spam folder, or send it again.</p>
      </div>
      <ResendLink email={email} />
    </AuthLayout>
  );
}

/** The token is in the fragment (`/verify#token=…`), which browsers never send to a server. */
export function verificationToken(hash: string): string | null {
  const token = new URLSearchParams(hash.replace(/^#/, "")).get("token");
  return token ? token : null;
}

/** Where a verification link lands: confirm the address and sign in. */
export function VerifyEmail() {
  const verify = useVerifyEmail();
  const started = useRef(false);
  const [token] = useState(() => verificationToken(window.location.hash));
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    // Out of the address bar and the history: a reload or a shared screen does not reuse it.
    window.history.replaceState(null, "", window.location.pathname);
    if (token) verify.mutate(token);
  }, [token, verify]);
  const failed = token === null || verify.isError;
  return (
    <AuthLayout title="Confirm your email" footer={<Link href="/signin" className="font-medium text-indigo-700 underline dark:text-indigo-300">Sign in</Link>}>
      {!failed && <p role="status">Confirming your email address…</p>}
      {token === null && <ErrorText>This link is incomplete. Open the link from the mail again.</ErrorText>}
      {verify.isError && <ErrorText>{errorMessage(verify.error)}</ErrorText>}
      {failed && <ResendLink />}
    </AuthLayout>
  );
}

/** An invite link is `/signup#invite=CODE`: the code is in the fragment, which browsers never send to a server. */
export function inviteCode(hash: string): string {
  return new URLSearchParams(hash.replace(/^#/, "")).get("invite") ?? "";
}

export function SignUp() {
  const signUp = useSignUp();
  const signupInfo = useSignupInfo();
  const [form, setForm] = useState(() => ({ email: "", password: "", handle: "", display_name: "", invite: inviteCode(window.location.hash) }));
  useEffect(() => {
    // Out of the address bar and the history once read.
    if (window.location.hash) window.history.replaceState(null, "", window.location.pathname);
  }, []);
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [k]: e.target.value }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const { invite, ...rest } = form;
    signUp.mutate({ ...rest, handle: form.handle.replace(/^@/, ""), ...(invite.trim() ? { invite: invite.trim() } : {}) });
  };
  const mode = signupInfo.data?.signup_mode;
  const domains = signupInfo.data?.allowed_email_domains ?? [];
  const fieldError = (code: string) => (signUp.error instanceof ApiError && signUp.error.code === code ? errorMessage(signUp.error) : null);
  if (signUp.data && !("access_token" in signUp.data)) return <CheckEmail email={form.email} />;
  return (
    <AuthLayout title="Create your account" footer={<>Already have one? <Link href="/signin" className="font-medium text-indigo-700 underline dark:text-indigo-300">Sign in</Link></>}>
      <form onSubmit={submit} className="flex flex-col gap-3">
        <TextField label="Display name" autoComplete="name" value={form.display_name} onChange={set("display_name")} maxLength={64} required autoFocus />
        <TextField
          label="Handle"
          hint="3–32 letters, digits or underscores. People find you by @handle."
          autoComplete="username"
          value={form.handle}
          onChange={set("handle")}
          pattern="@?[A-Za-z0-9_]{3,32}"
          required
          error={fieldError("handle_taken")}
        />
        {mode === "closed" && <p role="status" className="text-sm text-amber-700 dark:text-amber-300">Sign-up is closed on this server. Ask an admin for an account.</p>}
        <TextField
          label="Email"
          type="email"
          autoComplete="email"
          value={form.email}
          onChange={set("email")}
          required
          hint={domains.length > 0 ? `Addresses at ${domains.join(", ")} only.` : undefined}
          error={fieldError("email_taken")}
        />
        {(mode === "invite_only" || form.invite) && (
          <TextField label="Invite code" hint="From the invite link an admin gave you." value={form.invite} onChange={set("invite")} required={mode === "invite_only"} />
        )}
        <TextField
          label="Password"
          type="password"
          autoComplete="new-password"
          hint="At least 10 characters; a passphrase is best."
          value={form.password}
          onChange={set("password")}
          minLength={10}
          required
        />
        {signUp.isError && !fieldError("handle_taken") && !fieldError("email_taken") && <ErrorText>{errorMessage(signUp.error)}</ErrorText>}
        <Button type="submit" disabled={signUp.isPending}>
          {signUp.isPending ? "Creating…" : "Create account"}
        </Button>
      </form>
    </AuthLayout>
  );
}

/** Where "Forgot password?" leads: ask for a reset link (the answer is the same for any address). */
export function ForgotPassword() {
  const forgot = useForgotPassword();
  const [email, setEmail] = useState("");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    forgot.mutate(email);
  };
  return (
    <AuthLayout title="Reset your password" footer={<>Remembered it? <Link href="/signin" className="font-medium text-indigo-700 underline dark:text-indigo-300">Sign in</Link></>}>
      {forgot.isSuccess ? (
        <div role="status" data-testid="reset-requested" className="flex flex-col gap-2 text-sm">
          <p>
            If <strong>{email}</strong> belongs to a Tipline account, a link to choose a new password is on its way. It
            works once, for a limited time, and signs you out on every other device.
          </p>
          <p className="text-zinc-600 dark:text-zinc-400">Nothing there? Look in your spam folder, or try again in a few minutes.</p>
        </div>
      ) : (
        <form onSubmit={submit} className="flex flex-col gap-3">
          <p className="text-sm text-zinc-600 dark:text-zinc-400">Enter the email address of your account and we will mail you a link.</p>
          <TextField label="Email" type="email" autoComplete="email" value={email} onChange={(e) => setEmail(e.target.value)} required autoFocus />
          {forgot.isError && <ErrorText>{errorMessage(forgot.error)}</ErrorText>}
          <Button type="submit" disabled={forgot.isPending}>
            {forgot.isPending ? "Sending…" : "Mail me a link"}
          </Button>
        </form>
      )}
    </AuthLayout>
  );
}

/** Read a mailed link's token from the fragment once, and take it out of the address bar and history. */
function useLinkToken(): string | null {
  const [token] = useState(() => verificationToken(window.location.hash));
  useEffect(() => {
    // A reload, a shared screen or the history must not show or reuse it.
    if (window.location.hash) window.history.replaceState(null, "", window.location.pathname);
  }, []);
  return token;
}

/** Where a reset link lands: choose a new password; every other session ends and this one starts. */
export function ResetPassword() {
  const reset = useResetPassword();
  const token = useLinkToken();
  const [, navigate] = useLocation();
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const [mismatch, setMismatch] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setMismatch(password !== again);
    if (password !== again || token === null) return;
    reset.mutate({ token, new_password: password }, { onSuccess: () => navigate("/", { replace: true }) });
  };
  const linkDead =
    reset.error instanceof ApiError && ["reset_invalid", "reset_used", "reset_expired", "account_disabled"].includes(reset.error.code);
  return (
    <AuthLayout title="Choose a new password" footer={<Link href="/signin" className="font-medium text-indigo-700 underline dark:text-indigo-300">Sign in</Link>}>
      {token === null ? (
        <ErrorText>This link is incomplete. Open the link from the mail again, or ask for a new one.</ErrorText>
      ) : linkDead ? (
        <ErrorText>{errorMessage(reset.error)}</ErrorText>
      ) : (
        <form onSubmit={submit} className="flex flex-col gap-3" data-testid="reset-form">
          <TextField
            label="New password"
            type="password"
            autoComplete="new-password"
            hint="At least 10 characters; a passphrase is best."
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            minLength={10}
            required
            autoFocus
          />
          <TextField
            label="New password again"
            type="password"
            autoComplete="new-password"
            value={again}
            onChange={(e) => setAgain(e.target.value)}
            required
            error={mismatch ? "The two passwords are not the same." : null}
          />
          {reset.isError && <ErrorText>{errorMessage(reset.error)}</ErrorText>}
          <Button type="submit" disabled={reset.isPending}>
            {reset.isPending ? "Saving…" : "Set password and sign in"}
          </Button>
          <p className="text-xs text-zinc-600 dark:text-zinc-400">This signs your account out on every other device.</p>
        </form>
      )}
      {(token === null || linkDead) && (
        <p className="mt-4 text-sm">
          <Link href="/forgot" className="font-medium text-indigo-700 underline dark:text-indigo-300">
            Ask for a new link
          </Link>
        </p>
      )}
    </AuthLayout>
  );
}

/** Where the link mailed to a new address lands: the account moves to it. */
export function ConfirmEmail() {
  const confirm = useConfirmEmailChange();
  const token = useLinkToken();
  const started = useRef(false);
  useEffect(() => {
    if (started.current || token === null) return;
    started.current = true;
    confirm.mutate(token);
  }, [token, confirm]);
  return (
    <AuthLayout title="Confirm your new email" footer={<Link href="/" className="font-medium text-indigo-700 underline dark:text-indigo-300">Continue to Tipline</Link>}>
      {token === null && <ErrorText>This link is incomplete. Open the link from the mail again.</ErrorText>}
      {confirm.isPending && <p role="status">Confirming your new address…</p>}
      {confirm.isSuccess && (
        <p role="status" data-testid="email-changed">
          Done: your account’s email address is now <strong>{confirm.data.email}</strong>. Sign in with it from now on.
        </p>
      )}
      {confirm.isError && <ErrorText>{errorMessage(confirm.error)}</ErrorText>}
    </AuthLayout>
  );
}
