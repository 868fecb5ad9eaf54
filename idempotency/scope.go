package idempotency

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"sync"
	"weak"
)

// PlatformScope returns the name the platform gives the running function or
// service, the default Options.Scope: AWS_LAMBDA_FUNCTION_NAME on Lambda;
// K_SERVICE (Cloud Run, Cloud Functions 2nd gen) or FUNCTION_TARGET (the
// Functions Framework) on Google Cloud; WEBSITE_SITE_NAME on Azure
// Functions, where a function app with several functions in one process
// must set Scope per function. It returns "" when none is set.
func PlatformScope() string {
	for _, v := range []string{"AWS_LAMBDA_FUNCTION_NAME", "K_SERVICE", "FUNCTION_TARGET", "WEBSITE_SITE_NAME"} {
		if s := os.Getenv(v); s != "" {
			return s
		}
	}
	return ""
}

// ErrScope reports a middleware New refused to build because its scope is
// missing or already used in this process.
var ErrScope = errors.New("idempotency: scope")

// scopes remembers the (store, scope) pairs of the middlewares built in this
// process, so two handlers cannot silently share records.
var scopes struct {
	mu   sync.Mutex
	used map[scopeKey]bool
}

type scopeKey struct {
	// store identifies the Store: a weak pointer for a pointer (which does
	// not keep it alive, and never equals one made for a later object at the
	// same address; the entry is dropped when the store is collected), else
	// the value itself when comparable, else nothing.
	ptr   weak.Pointer[byte]
	store any
	scope string
}

// claimScope registers scope on store, or reports why it may not be used.
func claimScope(store Store, o *Options) error {
	if o.Scope == "" {
		return fmt.Errorf("%w: no Scope set and no platform name found (AWS_LAMBDA_FUNCTION_NAME, K_SERVICE, FUNCTION_TARGET, WEBSITE_SITE_NAME): set Options.Scope to a name unique to this handler", ErrScope)
	}
	k := scopeKey{scope: o.Scope}
	v := reflect.ValueOf(store)
	var obj *byte // the store's allocation, to forget k when it is collected
	switch {
	case v.Kind() == reflect.Pointer && !v.IsNil() && v.Type().Elem().Size() > 0:
		obj = (*byte)(v.UnsafePointer())
		k.ptr = weak.Make(obj)
	case v.Comparable():
		k.store = store
	}
	scopes.mu.Lock()
	defer scopes.mu.Unlock()
	if scopes.used == nil {
		scopes.used = make(map[scopeKey]bool)
	}
	if scopes.used[k] {
		if o.ShareScope {
			return nil
		}
		return fmt.Errorf("%w: another middleware in this process already uses scope %q on this store, so the two handlers would share records and one's work would be acknowledged as the other's duplicate: set Options.Scope to a name unique to each handler (or ShareScope if they really are one consumer)", ErrScope, o.Scope)
	}
	scopes.used[k] = true
	if obj != nil {
		runtime.AddCleanup(obj, forgetScope, k)
	}
	return nil
}

func forgetScope(k scopeKey) {
	scopes.mu.Lock()
	delete(scopes.used, k)
	scopes.mu.Unlock()
}
