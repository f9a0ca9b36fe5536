"""Screen-pops and the /ws feed: who holds a pop (pops.py), the customer card (cards.py), the one
publisher (publisher.py), per-agent numbering and replay (journal.py), routing to websockets
(hub.py), fan-out across processes (fanout.py), wiring (setup.py)."""
