"""insitu: data and models stay where they live; computation travels to them.

The SDK that the CLI, the brownie scripts and the workers all import.
"""

__version__ = "0.1.0"
