"""readerstudy package."""
