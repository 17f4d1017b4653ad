"""The HTTPS front: the API for the encryption module and curl, and the web pages (Bokmål) for people."""
