"""The issue posted to chat channels: Slack, Discord, Microsoft Teams and a generic JSON webhook."""
