"""Public-key encryption of results to buyers (ECIES on secp256k1) and key helpers."""
