"""Chat models over the OpenAI API: the client, reply checks, rate limits, the call log, token counting."""
