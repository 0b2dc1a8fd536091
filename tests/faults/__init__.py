"""Fault injection: what festina does when the machine around it fails (a corrupt or
vanished database, a disk that fills up or is read-only, descriptors running out), each
asserting a clear error or a degraded state, nothing acknowledged lost, and recovery
without a restart where the fault clears."""
