"""The lifecycle rules as pure synchronous code: inputs in, new state and effects out. No trio, sockets, clock or files."""
