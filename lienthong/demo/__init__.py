"""The demo material of the CLI: ``lienthong demo`` (the bus with simulators of every agency
system, and one scenario played on them), ``lienthong simulate`` and ``lienthong results demo-pki``.

The only part of ``lienthong`` that imports :mod:`simulators`; the CLI loads it inside those commands
only, so that the bus never loads a simulator."""
