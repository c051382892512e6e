"""Open standards in and out of a node: HXL and CSV exports, ValueFlows intents, CSV imports."""
