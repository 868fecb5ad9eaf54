package redisstore_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
	"github.com/eventfn/eventfn/idempotency/storetest"
	"github.com/eventfn/eventfn/internal/testenv"
)

// Redis Cluster: the conformance suite on a real three-master cluster
// started by scripts/services/redis-cluster.sh.
func TestConformanceOnCluster(t *testing.T) {
	url := testenv.Getenv(t, "EVENTFN_REDIS_CLUSTER_URL")
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) idempotency.Store {
			s, err := redisstore.OpenCluster(url, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	})
}

// AUTH through the URL's user info, against an ACL user on the real server.
func TestAuthFromURL(t *testing.T) {
	base := testenv.Redis(t)
	admin, err := redis.ParseURL(base)
	if err != nil {
		t.Fatal(err)
	}
	ac := redis.NewClient(admin)
	defer ac.Close()
	ctx := context.Background()
	user := fmt.Sprintf("eventfn-%d", time.Now().UnixNano())
	if err := ac.Do(ctx, "ACL", "SETUSER", user, "on", ">s3cret", "~eventfn:idem:*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	defer ac.Do(ctx, "ACL", "DELUSER", user)
	hostport := strings.TrimPrefix(strings.Split(base, "/0")[0], "redis://")

	good, err := redisstore.Open("redis://"+user+":s3cret@"+hostport+"/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	if _, err := good.Claim(ctx, idempotency.ClaimRequest{Key: user, Fingerprint: "fp", Lease: time.Minute}); err != nil {
		t.Fatalf("claim as ACL user: %v", err)
	}
	bad, err := redisstore.Open("redis://"+user+":wrong@"+hostport+"/0?max_retries=-1", nil)
	if err == nil {
		bad.Close()
		t.Fatal("Open with a wrong password succeeded")
	}
	if !errors.Is(err, idempotency.ErrStore) || strings.Contains(err.Error(), "wrong") || !strings.Contains(err.Error(), hostport) {
		t.Fatalf("Open with a wrong password: err = %v, want ErrStore naming %s without the password", err, hostport)
	}
	// A client made with New fails on the first call instead.
	o, err := redis.ParseURL("redis://" + user + ":wrong@" + hostport + "/0?max_retries=-1")
	if err != nil {
		t.Fatal(err)
	}
	bad = redisstore.New(redis.NewClient(o), nil)
	defer bad.Close()
	c, err := bad.Claim(ctx, idempotency.ClaimRequest{Key: user + "x", Fingerprint: "fp", Lease: time.Minute})
	if err == nil || c.Acquired || !errors.Is(err, idempotency.ErrStore) {
		t.Fatalf("claim with a wrong password: %+v, %v", c, err)
	}
}

// TLS through rediss://, against a real redis-server with its TLS port on.
func TestTLSFromURL(t *testing.T) {
	testenv.Redis(t) // the redis service is installed
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found")
	}
	dir := t.TempDir()
	writeCert(t, dir)
	port := testenv.FreePort(t)
	cmd := exec.Command(bin, "--port", "0", "--tls-port", fmt.Sprint(port), "--bind", "127.0.0.1",
		"--tls-cert-file", filepath.Join(dir, "cert.pem"), "--tls-key-file", filepath.Join(dir, "key.pem"),
		"--tls-ca-cert-file", filepath.Join(dir, "cert.pem"), "--tls-auth-clients", "no", "--save", "", "--appendonly", "no")
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatalf("redis-server with TLS did not start:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx := context.Background()
	s, err := redisstore.Open("rediss://"+addr+"/0?skip_verify=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Claim(ctx, idempotency.ClaimRequest{Key: "tls", Fingerprint: "fp", Lease: time.Minute})
	if err != nil || !c.Acquired {
		t.Fatalf("claim over TLS: %+v, %v", c, err)
	}
	// Without trusting the self-signed certificate the store must fail, not
	// fall back to plain text.
	if strict, err := redisstore.Open("rediss://"+addr+"/0?max_retries=-1", nil); err == nil {
		strict.Close()
		t.Fatal("Open succeeded against an untrusted certificate")
	}
	if plain, err := redisstore.Open("redis://"+addr+"/0?max_retries=-1&read_timeout=500ms", nil); err == nil {
		plain.Close()
		t.Fatal("plain-text Open succeeded on a TLS port")
	} else if !strings.Contains(err.Error(), "rediss://") {
		t.Errorf("plain-text Open on a TLS port: error %q does not point at rediss://", err)
	}
	// Clients made with New fail on their first call instead.
	for _, u := range []string{"rediss://" + addr + "/0?max_retries=-1", "redis://" + addr + "/0?max_retries=-1&read_timeout=500ms"} {
		o, err := redis.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		s := redisstore.New(redis.NewClient(o), nil)
		defer s.Close()
		if _, err := s.Claim(ctx, idempotency.ClaimRequest{Key: "tls2", Fingerprint: "fp", Lease: time.Minute}); err == nil {
			t.Fatalf("claim on %s succeeded", u)
		}
	}
}

func writeCert(t *testing.T, dir string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
}
