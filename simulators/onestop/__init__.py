"""A provincial one-stop-shop system as the demo and the tests play it: its client of the bus
(client.py), the events of its dossiers (mapping.py) and its webhook receiver (receiver.py)."""
