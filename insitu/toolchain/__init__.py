"""Compiler set-up and compiled artifacts of insitu's Solidity contracts."""
