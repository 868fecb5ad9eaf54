package middleware

import (
	"log/slog"
	"os"
)

// PlatformLogger returns the logger the platform's log pipeline reads best,
// judged by the environment: NewLambdaHandler on AWS Lambda
// (AWS_LAMBDA_FUNCTION_NAME), NewCloudLoggingHandler on Cloud Functions
// and Cloud Run (K_SERVICE or FUNCTION_TARGET), NewAzureHandler on Azure
// Functions (FUNCTIONS_CUSTOMHANDLER_PORT or WEBSITE_SITE_NAME), each
// writing JSON to stdout; slog.Default() anywhere else. It is safe for
// concurrent use; the loggers it returns are too.
func PlatformLogger() *slog.Logger {
	switch {
	case os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "":
		return slog.New(NewLambdaHandler(os.Stdout, nil))
	case os.Getenv("K_SERVICE") != "" || os.Getenv("FUNCTION_TARGET") != "":
		return slog.New(NewCloudLoggingHandler(os.Stdout, nil, os.Getenv("GOOGLE_CLOUD_PROJECT")))
	case os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT") != "" || os.Getenv("WEBSITE_SITE_NAME") != "":
		return slog.New(NewAzureHandler(os.Stdout, nil))
	}
	return slog.Default()
}

// renamed returns JSON handler options that rename the time, level and
// message keys (and map the level's value with level, when set), then apply
// the caller's ReplaceAttr.
func renamed(opts *slog.HandlerOptions, timeKey, levelKey, msgKey string, level func(slog.Level) string) *slog.HandlerOptions {
	var o slog.HandlerOptions
	if opts != nil {
		o = *opts
	}
	user := o.ReplaceAttr
	o.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 {
			switch a.Key {
			case slog.TimeKey:
				a.Key = timeKey
			case slog.MessageKey:
				a.Key = msgKey
			case slog.LevelKey:
				a.Key = levelKey
				if lv, ok := a.Value.Any().(slog.Level); ok && level != nil {
					a.Value = slog.StringValue(level(lv))
				}
			}
		}
		if user != nil {
			return user(groups, a)
		}
		return a
	}
	return &o
}
