"""Operator dashboard: pending approvals, decisions bound to the shown arguments, audit trails."""

from gateway.dashboard.app import create_dashboard

__all__ = ["create_dashboard"]
