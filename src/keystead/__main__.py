"""``python -m keystead``: the same as the ``keystead`` command, without needing it on PATH."""

from keystead.cli import main

if __name__ == "__main__":
    main(prog_name="keystead")
