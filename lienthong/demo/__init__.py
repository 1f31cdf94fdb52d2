"""``lienthong demo``: the bus with simulators of every agency system, and one scenario played on them."""
