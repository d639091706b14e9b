"""`leadq alerts`: delivery of stage changes and SLA events to webhooks and Slack."""
