import { useEffect, useState } from "react";
import { ApiError, fetchMe, loginUrl, logoutUrl, type Me } from "../api";

/** Who is logged in, and the way out; an unauthenticated visit goes to the login and comes back here. */
export function UserBar() {
  const [me, setMe] = useState<Me | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    fetchMe(controller.signal)
      .then(setMe)
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        if (error instanceof ApiError && error.status === 401) {
          window.location.assign(loginUrl(window.location.pathname + window.location.search));
        } else {
          // No account routes (an API without login): as auth off.
          setMe({ auth: false, username: null, roles: [], admin: false });
        }
      });
    return () => controller.abort();
  }, []);

  if (!me) return <div className="user-bar" aria-busy="true" />;
  if (!me.auth) {
    return (
      <div className="user-bar">
        <span className="muted">Login is off on this server</span>
      </div>
    );
  }
  return (
    <div className="user-bar">
      <span>
        Signed in as <strong data-testid="username">{me.username}</strong>
        {me.admin && <span className="muted"> (admin)</span>}
      </span>
      <a className="button secondary" href={logoutUrl()}>
        Log out
      </a>
    </div>
  );
}
