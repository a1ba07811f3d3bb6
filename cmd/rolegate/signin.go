package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/rolegate/rolegate/internal/config"
	"github.com/rolegate/rolegate/internal/sso"
)

// ssoStartupWait is how long serve waits for the identity provider at
// start. A provider that is briefly down (restarting, or started at the same
// time as rolegate) is waited for; one that stays away stops the start with
// a clear line, as a wrong setting does, and the supervisor's restart policy
// takes over. The portal does not start without it: every page but health
// needs a sign-in, and the HTTP layer relies on a configured provider being
// there (re-authentication before approving, no dev sign-in).
const ssoStartupWait = time.Minute

// connectSSO fetches the provider's discovery document, retrying with
// backoff from firstDelay while the provider is unreachable and until wait
// has passed. A configuration that cannot work (an http issuer off this
// machine, an issuer mismatch, missing endpoints) fails at once.
func connectSSO(ctx context.Context, cfg sso.Config, logger *slog.Logger, wait, firstDelay time.Duration) (*sso.Client, error) {
	deadline := time.Now().Add(wait)
	delay := firstDelay
	for attempt := 1; ; attempt++ {
		client, err := sso.New(ctx, cfg)
		if err == nil {
			if attempt > 1 {
				logger.Info("identity provider reached", "issuer", cfg.Issuer, "attempts", attempt)
			}
			return client, nil
		}
		if !errors.Is(err, sso.ErrProviderUnreachable) || time.Now().Add(delay).After(deadline) {
			return nil, err
		}
		logger.Warn("identity provider unreachable at start; retrying", "issuer", cfg.Issuer, "err", err, "retry_in", delay.String())
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Second)
	}
}

// checkApproveReauth refuses a start in which no approval could ever
// complete: max_age mode with a provider whose discovery lists its claims
// without auth_time (Google by default, Dex). It stops rather than warns:
// login mode loses nothing with a provider that does send auth_time after
// all (a stated auth_time is still checked), so the one-line fix is always
// safe, and a warning would leave approvers to find the dead end. A
// provider that lists no claims at all is given the benefit of the doubt;
// an approval then says what to change if auth_time never comes.
func checkApproveReauth(mode string, client *sso.Client) error {
	if states, listed := client.StatesAuthTime(); mode == config.ReauthMaxAge && listed && !states {
		return &config.Error{Var: "ROLEGATE_APPROVE_REAUTH", Msg: "is max_age, but the identity provider's discovery does not list auth_time " +
			"in claims_supported, so no approval could complete; set ROLEGATE_APPROVE_REAUTH=login (prompt=login; a stated auth_time is still checked) or off"}
	}
	return nil
}
