"""Transport, the client interface, both vendors' clients, signatures, pricing, safe downloads."""
