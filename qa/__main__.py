"""`python -m qa` runs the `qa` command."""

from qa.interfaces.cli import main

if __name__ == "__main__":  # a spawned worker process imports this module too
    main()
