"""``python -m ingestor``: the same as the ``ingestor`` command."""

from ingestor.cli import main

if __name__ == "__main__":
    main()
