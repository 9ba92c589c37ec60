"""HTTP <-> core inputs, nothing else: one module per API family, header names and errors in one place."""
