"""AMI edge: the connection, framing, typed events, and the PBX simulator."""
