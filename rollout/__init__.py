"""The four-stage framework: stage gates, readiness indicators, rollouts and checkpoints."""
