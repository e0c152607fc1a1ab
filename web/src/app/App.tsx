/** Providers and the top-level choice: signed in (the chat) or not (sign in / sign up). */
import { QueryClientProvider } from "@tanstack/react-query";
import { Component, useEffect, type ReactNode } from "react";
import { Route, Switch, useRoute } from "wouter";
import { ConfirmEmail, ForgotPassword, ResetPassword, SignIn, SignUp, VerifyEmail } from "../features/accounts/AuthPages";
import { EnrolmentRequired, SecondStepPage } from "../features/accounts/TwoFactor";
import { secondStepStore } from "../features/accounts/twoFactorQueries";
import { useSession } from "../features/accounts/queries";
import { useStore } from "../lib/store";
import { Crashed } from "./ErrorPages";
import { RealtimeProvider } from "./realtime";
import { ServicesContext, type Services } from "./services";
import { Shell } from "./Shell";
import { watchSystemTheme } from "./theme";

export function App({ services }: { services: Services }) {
  useEffect(() => watchSystemTheme(), []);
  useEffect(() => {
    // Signing in or out in another tab applies here too.
    const onStorage = (e: StorageEvent) => {
      if (e.key === null || e.key.startsWith("tipline.session")) services.session.sync();
    };
    window.addEventListener("storage", onStorage);
    return () => window.removeEventListener("storage", onStorage);
  }, [services]);
  return (
    <ErrorBoundary>
      <ServicesContext.Provider value={services}>
        <QueryClientProvider client={services.queryClient}>
          <Root />
        </QueryClientProvider>
      </ServicesContext.Provider>
    </ErrorBoundary>
  );
}

function Root() {
  const session = useSession();
  const secondStep = useStore(secondStepStore);
  // Mailed links work whether or not this browser is signed in (perhaps as someone else); so
  // does /forgot, where the "your address is about to change" notice sends its reader.
  const [resetLink] = useRoute("/reset");
  const [confirmLink] = useRoute("/email/confirm");
  const [forgot] = useRoute("/forgot");
  // A first factor was right (password, provider, reset or verification link): its second step.
  if (!session && secondStep) return <SecondStepPage />;
  if (resetLink) return <ResetPassword />;
  if (confirmLink) return <ConfirmEmail />;
  if (forgot) return <ForgotPassword />;
  if (!session) {
    return (
      <Switch>
        <Route path="/signup">
          <SignUp />
        </Route>
        <Route path="/verify">
          <VerifyEmail />
        </Route>
        <Route>
          <SignIn />
        </Route>
      </Switch>
    );
  }
  // REQUIRE_2FA: nothing but enrolment until the account has a second factor.
  if (session.enrollmentRequired) return <EnrolmentRequired />;
  return (
    <RealtimeProvider key={session.user.id} userId={session.user.id}>
      <Shell />
    </RealtimeProvider>
  );
}

class ErrorBoundary extends Component<{ children: ReactNode }, { failed: boolean }> {
  override state = { failed: false };
  static getDerivedStateFromError(): { failed: boolean } {
    return { failed: true };
  }
  override render() {
    return this.state.failed ? <Crashed onReset={() => window.location.reload()} /> : this.props.children;
  }
}
