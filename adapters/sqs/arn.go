package sqs

import (
	"net/url"
	"strings"
)

// QueueURLFromARN returns the standard AWS URL of the queue named by an SQS
// ARN (arn:PARTITION:sqs:REGION:ACCOUNT:NAME), or "" when arn is not one.
func QueueURLFromARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sqs" || parts[3] == "" || parts[4] == "" || parts[5] == "" {
		return ""
	}
	domain := "amazonaws.com"
	if parts[1] == "aws-cn" {
		domain = "amazonaws.com.cn"
	}
	return "https://sqs." + parts[3] + "." + domain + "/" + parts[4] + "/" + parts[5]
}

// queueARNFromURL derives a queue's ARN from its URL:
// https://sqs.REGION.amazonaws.com/ACCOUNT/NAME, the legacy
// https://REGION.queue.amazonaws.com/ACCOUNT/NAME, and emulator URLs such as
// http://sqs.REGION.localhost:PORT/ACCOUNT/NAME. The region is left empty
// when the host does not name one.
func queueARNFromURL(queueURL string) string {
	u, err := url.Parse(queueURL)
	if err != nil {
		return ""
	}
	path := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(path) != 2 || path[0] == "" || path[1] == "" {
		return ""
	}
	host := strings.Split(u.Hostname(), ".")
	region := ""
	switch {
	case len(host) >= 3 && host[0] == "sqs":
		region = host[1]
	case len(host) >= 3 && host[1] == "queue":
		region = host[0]
	}
	partition := "aws"
	if strings.HasSuffix(u.Hostname(), ".amazonaws.com.cn") {
		partition = "aws-cn"
	}
	return "arn:" + partition + ":sqs:" + region + ":" + path[0] + ":" + path[1]
}

// isFIFO reports whether the queue ARN or URL names a FIFO queue.
func isFIFO(queue string) bool { return strings.HasSuffix(queue, ".fifo") }
