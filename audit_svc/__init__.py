"""The audit service: per-session tamper-evident hash chains, their anchors, and verification."""
