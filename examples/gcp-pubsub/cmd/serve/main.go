// Command serve runs the orders functions with the Functions Framework, as
// Cloud Functions and Cloud Run do: every function at /<name>
// (/OrderPlaced, /OrderPlacedPush), or only FUNCTION_TARGET's at /.
//
// Environment: PORT (default 8080), HOST (default all interfaces; tests
// use 127.0.0.1), and the variables of package orderfn.
package main

import (
	"log"
	"os"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"

	_ "github.com/eventfn/eventfn/examples/gcp-pubsub" // registers the functions
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if err := funcframework.StartHostPort(os.Getenv("HOST"), port); err != nil {
		log.Fatalf("serve: %v", err)
	}
}
