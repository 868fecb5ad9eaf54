variable "project" {
  type        = string
  description = "Google Cloud project ID."
}

variable "region" {
  type        = string
  default     = "us-central1"
  description = "Region of the function and its source bucket."
}

variable "name" {
  type        = string
  default     = "order-events"
  description = "Prefix of every resource name."
}

variable "runtime" {
  type        = string
  default     = "go126"
  description = "Cloud Functions Go runtime (gcloud functions runtimes list)."
}

variable "max_delivery_attempts" {
  type        = number
  default     = 5
  description = "Deliveries before Pub/Sub forwards a message to the dead-letter topic (5 to 100)."
}

variable "vpc_connector" {
  type        = string
  default     = null
  description = "Serverless VPC Access connector that reaches the store, if it is in a VPC."
}

variable "notification_channels" {
  type        = list(string)
  default     = []
  description = "Cloud Monitoring notification channels of the dead-letter alert."
}
