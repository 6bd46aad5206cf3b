"""Email: the message, SMTP delivery with its ledger, subscribers, and the web endpoints for them."""
