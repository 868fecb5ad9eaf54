package orderfn

import (
	"context"
	"strings"
	"testing"
)

// Verifying push tokens needs the service account as well as the audience:
// a function configured with only the audience refuses to start rather
// than accept tokens any Google account can mint.
func TestPushAudienceWithoutServiceAccountIsAnError(t *testing.T) {
	t.Setenv("EVENTFN_REDIS_URL", "") // the in-memory store
	t.Setenv("PUSH_AUDIENCE", "https://orders.example.run.app")
	t.Setenv("PUSH_SERVICE_ACCOUNT", "")
	_, err := configure(context.Background())
	if err == nil || !strings.Contains(err.Error(), "PUSH_SERVICE_ACCOUNT") {
		t.Fatalf("configure: err = %v, want one naming PUSH_SERVICE_ACCOUNT", err)
	}
	t.Setenv("PUSH_SERVICE_ACCOUNT", "push@project.iam.gserviceaccount.com")
	c, err := configure(context.Background())
	if err != nil || c.verifier == nil {
		t.Fatalf("configure = %+v, %v; want a verifier", c, err)
	}
}
