"""HTTP endpoints (thin: verify, enqueue, answer) and the event handlers workers run."""
