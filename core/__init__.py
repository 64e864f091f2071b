"""Cross-cutting building blocks that every app may import; it imports no app.

Dependencies run one way: core <- registry <- governance <- rollout <- portal.
"""
