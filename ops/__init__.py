"""Operating the assistant: monitoring, shadow and A/B models, and the handoff to people (issue 14)."""
