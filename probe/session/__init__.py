"""The session: a machine without I/O, its step handlers, and the drivers that do the I/O."""
