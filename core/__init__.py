"""Shared types every festina package uses, and nothing else: events, input records and
rejections, the event-source interface, decisions and offers. core imports no other festina
package, so gate/, memory/ and tools/ can use these without importing the wiring (agent/)."""
